//! What the store was asked to do, from two witnesses: Floe's own Prometheus counters
//! (`floe_store_requests_total`, `floe_store_bytes_total`) and, for the S3 store, the
//! access log of the S3 server itself, which also sees brokers that count nothing.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// Floe's store operations, as labelled in its metrics.
pub const FLOE_OPS: [&str; 6] = ["put", "put_if_absent", "get", "get_range", "delete", "list"];

/// Requests by kind and bytes moved, as counted by one witness over one phase.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreCounts {
    /// Requests by kind (Floe's op names, or HTTP methods for the S3 server's log).
    pub requests: BTreeMap<String, f64>,
    /// Bytes sent to the store (request bodies), when the witness knows them.
    pub bytes_sent: Option<f64>,
    /// Bytes received from the store, when the witness knows them.
    pub bytes_received: Option<f64>,
}

impl StoreCounts {
    /// `self - before`, kind by kind.
    pub fn since(&self, before: &StoreCounts) -> StoreCounts {
        let requests = self
            .requests
            .iter()
            .map(|(k, v)| (k.clone(), v - before.requests.get(k).copied().unwrap_or(0.0)))
            .collect();
        let minus = |a: Option<f64>, b: Option<f64>| a.map(|a| a - b.unwrap_or(0.0));
        StoreCounts {
            requests,
            bytes_sent: minus(self.bytes_sent, before.bytes_sent),
            bytes_received: minus(self.bytes_received, before.bytes_received),
        }
    }

    /// Requests of the given kinds.
    pub fn sum(&self, kinds: &[&str]) -> f64 {
        kinds.iter().filter_map(|k| self.requests.get(*k)).sum()
    }
}

/// A plain HTTP/1.0 GET on loopback; enough for `/metrics`.
pub fn http_get(port: u16, path: &str) -> Result<String> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).with_context(|| format!("connect to port {port}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let Some((head, body)) = response.split_once("\r\n\r\n") else {
        bail!("malformed HTTP response from port {port}")
    };
    if head.split_whitespace().nth(1) != Some("200") {
        bail!("GET {path} on port {port}: {}", head.lines().next().unwrap_or_default());
    }
    Ok(body.to_string())
}

/// The sum of a metric's samples whose labels include all of `labels`, in Prometheus'
/// text exposition format.
pub fn sample_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (head, value) = line.rsplit_once(' ')?;
            let (metric, rest) = head.split_once('{').unwrap_or((head, "}"));
            if metric != name {
                return None;
            }
            let got: Vec<(&str, &str)> = rest
                .trim_end_matches('}')
                .split(',')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k, v.trim_matches('"')))
                .collect();
            labels.iter().all(|want| got.contains(want)).then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

/// Floe's store counters, from its `/metrics` text.
pub fn floe_store_counts(text: &str) -> StoreCounts {
    let requests = FLOE_OPS
        .iter()
        .map(|op| (op.to_string(), sample_sum(text, "floe_store_requests_total", &[("op", op)])))
        .collect();
    let bytes = |direction| sample_sum(text, "floe_store_bytes_total", &[("direction", direction)]);
    StoreCounts { requests, bytes_sent: Some(bytes("sent")), bytes_received: Some(bytes("received")) }
}

/// Requests by HTTP method in an S3 server's access log (werkzeug's format, as
/// moto_server writes it: `... "PUT /bucket/key HTTP/1.1" 200 -`), bucket creation and
/// anything outside `bucket` excluded.
pub fn access_log_counts(log: &str, bucket: &str) -> StoreCounts {
    let mut requests = BTreeMap::new();
    for line in log.lines() {
        let Some(request) = line.split('"').nth(1) else { continue };
        let mut parts = request.split_whitespace();
        let (Some(method), Some(path)) = (parts.next(), parts.next()) else { continue };
        // objects (`/bucket/key`) and listings (`/bucket?list-type=2`), not the bucket itself
        let in_bucket = path.strip_prefix('/').and_then(|p| p.strip_prefix(bucket));
        if in_bucket.is_some_and(|rest| (rest.starts_with('/') && rest.len() > 1) || rest.starts_with('?')) {
            *requests.entry(method.to_string()).or_insert(0.0) += 1.0;
        }
    }
    StoreCounts { requests, bytes_sent: None, bytes_received: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOE: &str = r#"# HELP floe_store_requests_total Store requests
# TYPE floe_store_requests_total counter
floe_store_requests_total{op="put",outcome="ok"} 120
floe_store_requests_total{op="put",outcome="error"} 3
floe_store_requests_total{op="put_if_absent",outcome="ok"} 7
floe_store_requests_total{op="get_range",outcome="ok"} 40
floe_store_bytes_total{direction="sent",op="put"} 1073741824
floe_store_bytes_total{direction="received",op="get_range"} 5000
floe_store_requests_total_other{op="put"} 999
"#;

    #[test]
    fn floe_counters_sum_over_outcomes() {
        let c = floe_store_counts(FLOE);
        assert_eq!(c.requests["put"], 123.0);
        assert_eq!(c.requests["put_if_absent"], 7.0);
        assert_eq!(c.requests["get"], 0.0);
        assert_eq!(c.sum(&["get", "get_range"]), 40.0);
        assert_eq!(c.bytes_sent, Some(1073741824.0));
        assert_eq!(c.bytes_received, Some(5000.0));
    }

    #[test]
    fn differences_are_per_kind() {
        let before = floe_store_counts(FLOE);
        let after = floe_store_counts(&FLOE.replace("} 120", "} 220"));
        let d = after.since(&before);
        assert_eq!(d.requests["put"], 100.0);
        assert_eq!(d.requests["get_range"], 0.0);
        assert_eq!(d.bytes_sent, Some(0.0));
    }

    #[test]
    fn access_log_counts_methods_inside_the_bucket_only() {
        let log = r#"127.0.0.1 - - [25/Nov/2026 17:00:00] "PUT /floe-bench HTTP/1.1" 200 -
127.0.0.1 - - [25/Nov/2026 17:00:01] "PUT /floe-bench/wal/0001 HTTP/1.1" 200 -
127.0.0.1 - - [25/Nov/2026 17:00:01] "PUT /floe-bench/wal/0002 HTTP/1.1" 200 -
127.0.0.1 - - [25/Nov/2026 17:00:02] "GET /floe-bench/wal/0001 HTTP/1.1" 206 -
127.0.0.1 - - [25/Nov/2026 17:00:02] "GET /floe-bench?list-type=2&prefix=x HTTP/1.1" 200 -
127.0.0.1 - - [25/Nov/2026 17:00:03] "GET /other/key HTTP/1.1" 404 -
 * Running on http://127.0.0.1:5000
"#;
        let c = access_log_counts(log, "floe-bench");
        assert_eq!(c.requests.get("PUT"), Some(&2.0), "bucket creation is not counted: {c:?}");
        assert_eq!(c.requests.get("GET"), Some(&2.0), "{c:?}");
        assert_eq!(c.requests.len(), 2);
    }
}

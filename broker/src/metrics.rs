//! The broker's own counters, and the HTTP listener that serves every registered metric
//! (broker, engine, object store) as Prometheus text at `/metrics`.

use prometheus::{Encoder, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use floe_backends::Faults;

use crate::error::{Error, Result};

/// Request and traffic counters of the Kafka listener.
#[derive(Debug, Clone)]
pub struct BrokerMetrics {
    /// Requests by API name.
    pub requests: IntCounterVec,
    /// Record bytes accepted by Produce.
    pub bytes_in: IntCounter,
    /// Record bytes returned by Fetch.
    pub bytes_out: IntCounter,
    /// Open client connections.
    pub connections: IntGauge,
    /// Connections closed for bad input (oversized or undecodable frames).
    pub rejected_frames: IntCounter,
}

fn registered<C: prometheus::core::Collector + Clone + 'static>(registry: &Registry, c: C) -> Result<C> {
    registry.register(Box::new(c.clone())).map_err(|e| Error::Config(e.to_string()))?;
    Ok(c)
}

impl BrokerMetrics {
    /// Counters registered in `registry`.
    pub fn new(registry: &Registry) -> Result<Self> {
        let m = |e: prometheus::Error| Error::Config(e.to_string());
        Ok(BrokerMetrics {
            requests: registered(
                registry,
                IntCounterVec::new(Opts::new("floe_requests_total", "Kafka requests by API"), &["api"])
                    .map_err(m)?,
            )?,
            bytes_in: registered(
                registry,
                IntCounter::new("floe_bytes_in_total", "Record bytes accepted by Produce").map_err(m)?,
            )?,
            bytes_out: registered(
                registry,
                IntCounter::new("floe_bytes_out_total", "Record bytes returned by Fetch").map_err(m)?,
            )?,
            connections: registered(
                registry,
                IntGauge::new("floe_connections", "Open client connections").map_err(m)?,
            )?,
            rejected_frames: registered(
                registry,
                IntCounter::new("floe_rejected_frames_total", "Connections closed for bad frames")
                    .map_err(m)?,
            )?,
        })
    }
}

/// Serves `GET /metrics` until the listener fails.
/// Serves `GET /metrics` until the listener fails; with `faults`, also
/// `POST /faults?name=value&...` to change injected store faults (tests and drills).
pub async fn serve(listener: TcpListener, registry: Registry, faults: Option<Faults>) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            continue;
        };
        let registry = registry.clone();
        let faults = faults.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut read = 0;
            // Read the request head; the body (if any) is ignored.
            while read < buf.len() {
                match socket.read(&mut buf[read..]).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => read += n,
                }
                if buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let head = String::from_utf8_lossy(&buf[..read]);
            let (status, body) = if head.starts_with("GET /metrics ") {
                let mut out = Vec::new();
                match TextEncoder::new().encode(&registry.gather(), &mut out) {
                    Ok(()) => ("200 OK", out),
                    Err(e) => ("500 Internal Server Error", e.to_string().into_bytes()),
                }
            } else if let (Some(faults), Some(query)) = (&faults, head.strip_prefix("POST /faults?")) {
                let query = query.split_whitespace().next().unwrap_or_default();
                let applied: Result<(), String> =
                    query.split('&').filter(|kv| !kv.is_empty()).try_for_each(|kv| {
                        let (k, v) =
                            kv.split_once('=').ok_or_else(|| format!("{kv}: expected name=value"))?;
                        faults.set(k, v)
                    });
                match applied {
                    Ok(()) => ("200 OK", b"ok\n".to_vec()),
                    Err(e) => ("400 Bad Request", format!("{e}\n").into_bytes()),
                }
            } else {
                ("404 Not Found", b"see /metrics\n".to_vec())
            };
            let header = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(header.as_bytes()).await;
            let _ = socket.write_all(&body).await;
        });
    }
}

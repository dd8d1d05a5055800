//! Store settings and the OpenDAL operator built from them. Owns the mapping from Floe's
//! settings to each service's option names; does not own retries or accounting.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::faults::FaultSettings;

/// Which object store to talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// AWS S3 and every S3-compatible store (MinIO, moto, Ceph, R2...).
    S3,
    /// Alibaba Cloud OSS, through OpenDAL's native service.
    Oss,
    /// Google Cloud Storage.
    Gcs,
    /// Azure Blob Storage.
    Azblob,
    /// A local directory.
    Fs,
    /// Process memory: gone when the process exits. Tests and benchmarks only.
    Memory,
}

impl Scheme {
    fn opendal_name(self) -> &'static str {
        match self {
            Scheme::S3 => "s3",
            Scheme::Oss => "oss",
            Scheme::Gcs => "gcs",
            Scheme::Azblob => "azblob",
            Scheme::Fs => "fs",
            Scheme::Memory => "memory",
        }
    }
}

/// Everything needed to reach one bucket (or directory) and to talk to it politely.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// Which service.
    pub scheme: Scheme,
    /// Bucket (s3, oss, gcs) or container (azblob). Unused by fs and memory.
    pub bucket: Option<String>,
    /// Prefix inside the bucket, or the directory for fs.
    pub root: String,
    /// Service endpoint, e.g. `http://127.0.0.1:9000` for MinIO or
    /// `https://oss-cn-hangzhou.aliyuncs.com` for OSS.
    pub endpoint: Option<String>,
    /// Region (s3).
    pub region: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), which most S3-compatible stores
    /// need; AWS prefers virtual-host style.
    pub path_style: bool,
    /// Extra service options passed to OpenDAL as they are (see OpenDAL's docs for each
    /// service). Credentials belong in the environment, never here in a file.
    pub options: BTreeMap<String, String>,
    /// Per-attempt timeout.
    #[serde(with = "millis")]
    pub request_timeout: Duration,
    /// Retry policy for retriable failures.
    pub retry: RetrySettings,
    /// Injected faults, for tests and chaos drills. Off by default.
    pub faults: FaultSettings,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            scheme: Scheme::Fs,
            bucket: None,
            root: "floe-data/bucket".into(),
            endpoint: None,
            region: None,
            path_style: true,
            options: BTreeMap::new(),
            request_timeout: Duration::from_secs(30),
            retry: RetrySettings::default(),
            faults: FaultSettings::default(),
        }
    }
}

/// Exponential backoff with full jitter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrySettings {
    /// Attempts in all, the first included. 1 disables retries.
    pub max_attempts: u32,
    /// Backoff ceiling before the first retry.
    #[serde(with = "millis")]
    pub min_backoff: Duration,
    /// Largest backoff ceiling.
    #[serde(with = "millis")]
    pub max_backoff: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            max_attempts: 6,
            min_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// Durations in settings are written as whole milliseconds: `#[serde(with = "floe_backends::millis")]`.
pub mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes a duration as milliseconds.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// Reads milliseconds as a duration.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// Option names whose values are secrets: redacted when shown, refused from files.
pub fn is_secret_option(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["secret", "password", "token", "credential", "account_key", "sas", "key_id"]
        .iter()
        .any(|word| name.contains(word))
}

impl StoreSettings {
    /// The options handed to OpenDAL for this service.
    pub fn opendal_options(&self) -> Result<Vec<(String, String)>> {
        let mut out = BTreeMap::new();
        out.insert("root".to_string(), self.root.clone());
        let needs_bucket = |field: &str| -> Result<String> {
            self.bucket
                .clone()
                .filter(|b| !b.is_empty())
                .ok_or_else(|| Error::Config(format!("storage.bucket is required for {field}")))
        };
        match self.scheme {
            Scheme::S3 => {
                out.insert("bucket".into(), needs_bucket("s3")?);
                if let Some(region) = &self.region {
                    out.insert("region".into(), region.clone());
                } else {
                    // Most S3-compatible stores ignore the region but signing needs one.
                    out.insert("region".into(), "us-east-1".into());
                }
                out.insert("enable_virtual_host_style".into(), (!self.path_style).to_string());
            }
            Scheme::Oss | Scheme::Gcs => {
                out.insert("bucket".into(), needs_bucket("oss and gcs")?);
            }
            Scheme::Azblob => {
                out.insert("container".into(), needs_bucket("azblob")?);
            }
            Scheme::Fs => {
                if self.root.is_empty() {
                    return Err(Error::Config("storage.root (a directory) is required for fs".into()));
                }
            }
            Scheme::Memory => {}
        }
        if let Some(endpoint) = &self.endpoint {
            out.insert("endpoint".into(), endpoint.clone());
        }
        out.extend(self.options.clone());
        Ok(out.into_iter().collect())
    }

    /// Builds the raw OpenDAL operator. No layers: retries, timeouts and accounting are
    /// Floe's own wrappers (see [`crate::open`]), so every attempt is counted.
    pub fn operator(&self) -> Result<opendal::Operator> {
        opendal::install_default();
        let options = self.opendal_options()?;
        opendal::Operator::via_iter(self.scheme.opendal_name(), options).map_err(Error::from)
    }
}

//! The storage trait the engine sees, and its one real implementation over OpenDAL.
//! Retries, timeouts, accounting and faults are wrappers around it (see `layers`).

use std::fmt::Debug;
use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::{Error, Result};

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Key relative to the store's root.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
}

/// The few operations Floe needs from an object store. Every call is one request.
#[async_trait]
pub trait ObjectStore: Send + Sync + Debug {
    /// Writes (or overwrites) an object.
    async fn put(&self, key: &str, body: Bytes) -> Result<()>;
    /// Writes an object only if no object has the key. Fails with
    /// [`Error::AlreadyExists`] otherwise. Conditional on the store itself (S3
    /// `If-None-Match: *`), so two writers racing for a key cannot both win.
    async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<()>;
    /// Reads a whole object.
    async fn get(&self, key: &str) -> Result<Bytes>;
    /// Reads `range` bytes of an object.
    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes>;
    /// Deletes an object; deleting a missing object succeeds.
    async fn delete(&self, key: &str) -> Result<()>;
    /// Lists objects whose keys start with `prefix` (a directory-like prefix ending in
    /// `/`), in key order.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>>;
}

/// An [`ObjectStore`] over one OpenDAL operator: s3, oss, gcs, azblob, fs or memory.
#[derive(Debug, Clone)]
pub struct OpendalStore {
    op: opendal::Operator,
}

impl OpendalStore {
    /// Wraps an operator.
    pub fn new(op: opendal::Operator) -> Self {
        OpendalStore { op }
    }
}

#[async_trait]
impl ObjectStore for OpendalStore {
    async fn put(&self, key: &str, body: Bytes) -> Result<()> {
        self.op.write(key, body).await?;
        Ok(())
    }

    async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<()> {
        self.op.write_with(key, body).if_not_exists(true).await?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Bytes> {
        Ok(self.op.read(key).await?.to_bytes())
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes> {
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        let want = range.end - range.start;
        let bytes = self.op.read_with(key).range(range).await?.to_bytes();
        if bytes.len() as u64 != want {
            return Err(Error::Permanent(format!(
                "short read of {key}: wanted {want} bytes, got {}",
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        match self.op.delete(key).await {
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(()),
            other => Ok(other?),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let entries = match self.op.list_with(prefix).recursive(true).await {
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => return Ok(Vec::new()),
            other => other?,
        };
        let mut out: Vec<ObjectMeta> = entries
            .into_iter()
            .filter(|e| e.metadata().mode().is_file())
            .map(|e| ObjectMeta { size: e.metadata().content_length(), key: e.path().to_string() })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }
}

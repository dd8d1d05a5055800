//! Behaviour wrapped around an [`ObjectStore`]: retry with backoff and jitter, a
//! per-attempt timeout, request and byte accounting. Fault injection lives in
//! `faults`. Each is a [`Layer`]; [`Layered`] applies one to a store.
//!
//! [`crate::open`] stacks them, outermost first: retry → metrics → timeout → faults →
//! OpenDAL. Metrics sit inside retry so that every attempt is counted (each one is a
//! billed request) and outside the timeout so that a timed-out attempt is counted too.

use std::fmt::Debug;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use prometheus::{IntCounterVec, Opts, Registry};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::config::RetrySettings;
use crate::error::{Error, Result};
use crate::store::{ObjectMeta, ObjectStore};

/// A boxed, sendable future, as `async_trait` methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The kind of an object-store request, as billed by the clouds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// Unconditional write.
    Put,
    /// Conditional write (create if absent).
    PutIfAbsent,
    /// Whole-object read.
    Get,
    /// Ranged read.
    GetRange,
    /// Delete.
    Delete,
    /// One listing call.
    List,
}

impl Op {
    /// The label used in metrics.
    pub fn name(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::PutIfAbsent => "put_if_absent",
            Op::Get => "get",
            Op::GetRange => "get_range",
            Op::Delete => "delete",
            Op::List => "list",
        }
    }

    /// Whether the request changes the store (and so may have taken effect even when
    /// its answer was lost).
    pub fn is_write(self) -> bool {
        matches!(self, Op::Put | Op::PutIfAbsent | Op::Delete)
    }
}

/// Results whose size is worth accounting.
pub trait Payload {
    /// Bytes received from the store.
    fn received(&self) -> u64 {
        0
    }
}

impl Payload for () {}

impl Payload for Vec<ObjectMeta> {}

impl Payload for Bytes {
    fn received(&self) -> u64 {
        self.len() as u64
    }
}

/// Behaviour around each request made through a store.
pub trait Layer: Send + Sync + Debug {
    /// Runs `call` (which may be invoked more than once) for a request of kind `op`
    /// sending `sent` bytes.
    fn around<'a, T: Payload + Send + 'a>(
        &'a self,
        op: Op,
        sent: u64,
        call: impl Fn() -> BoxFuture<'a, Result<T>> + Send + Sync + 'a,
    ) -> impl Future<Output = Result<T>> + Send + 'a;
}

/// A store with a layer around every request.
#[derive(Debug)]
pub struct Layered<L, S> {
    layer: L,
    inner: S,
}

impl<L: Layer, S: ObjectStore> Layered<L, S> {
    /// Wraps `inner` in `layer`.
    pub fn new(layer: L, inner: S) -> Self {
        Layered { layer, inner }
    }
}

#[async_trait]
impl<L: Layer, S: ObjectStore> ObjectStore for Layered<L, S> {
    async fn put(&self, key: &str, body: Bytes) -> Result<()> {
        let sent = body.len() as u64;
        self.layer.around(Op::Put, sent, || self.inner.put(key, body.clone())).await
    }

    async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<()> {
        let sent = body.len() as u64;
        self.layer.around(Op::PutIfAbsent, sent, || self.inner.put_if_absent(key, body.clone())).await
    }

    async fn get(&self, key: &str) -> Result<Bytes> {
        self.layer.around(Op::Get, 0, || self.inner.get(key)).await
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes> {
        self.layer.around(Op::GetRange, 0, || self.inner.get_range(key, range.clone())).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.layer.around(Op::Delete, 0, || self.inner.delete(key)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        self.layer.around(Op::List, 0, || self.inner.list(prefix)).await
    }
}

/// Retries retriable failures with exponential backoff and full jitter.
#[derive(Debug)]
pub struct RetryLayer {
    settings: RetrySettings,
    rng: Mutex<SmallRng>,
}

impl RetryLayer {
    /// A retry layer whose jitter comes from `seed`.
    pub fn new(settings: RetrySettings, seed: u64) -> Self {
        RetryLayer { settings, rng: Mutex::new(SmallRng::seed_from_u64(seed)) }
    }

    fn backoff(&self, retry: u32) -> Duration {
        let ceiling =
            self.settings.min_backoff.saturating_mul(1u32 << retry.min(16)).min(self.settings.max_backoff);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        let jittered = match self.rng.lock() {
            Ok(mut rng) => rng.random_range(0..=millis),
            Err(_) => millis,
        };
        Duration::from_millis(jittered)
    }
}

impl Layer for RetryLayer {
    async fn around<'a, T: Payload + Send + 'a>(
        &'a self,
        op: Op,
        _sent: u64,
        call: impl Fn() -> BoxFuture<'a, Result<T>> + Send + Sync + 'a,
    ) -> Result<T> {
        let mut attempt = 1;
        loop {
            match call().await {
                Err(e) if e.is_retriable() && attempt < self.settings.max_attempts => {
                    let pause = self.backoff(attempt - 1);
                    tracing::debug!(op = op.name(), attempt, ?pause, error = %e, "retrying");
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// Gives up on an attempt that has not answered in time.
#[derive(Debug)]
pub struct TimeoutLayer {
    limit: Duration,
}

impl TimeoutLayer {
    /// A timeout of `limit` per attempt.
    pub fn new(limit: Duration) -> Self {
        TimeoutLayer { limit }
    }
}

impl Layer for TimeoutLayer {
    async fn around<'a, T: Payload + Send + 'a>(
        &'a self,
        _op: Op,
        _sent: u64,
        call: impl Fn() -> BoxFuture<'a, Result<T>> + Send + Sync + 'a,
    ) -> Result<T> {
        tokio::time::timeout(self.limit, call()).await.unwrap_or(Err(Error::Timeout(self.limit)))
    }
}

/// Request and byte counters: the object-store bill.
#[derive(Debug, Clone)]
pub struct StoreMetrics {
    requests: IntCounterVec,
    bytes: IntCounterVec,
}

/// How a request ended, as a metrics label.
fn outcome<T>(result: &Result<T>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(Error::NotFound(_)) => "not_found",
        Err(Error::AlreadyExists(_)) => "conflict",
        Err(Error::Timeout(_)) => "timeout",
        Err(Error::Unavailable(_)) => "unavailable",
        Err(Error::Permanent(_) | Error::Config(_)) => "error",
    }
}

impl StoreMetrics {
    /// Counters registered in `registry`.
    pub fn new(registry: &Registry) -> Result<Self> {
        let requests = IntCounterVec::new(
            Opts::new("floe_store_requests_total", "Object-store requests by operation and outcome"),
            &["op", "outcome"],
        )
        .map_err(|e| Error::Config(e.to_string()))?;
        let bytes = IntCounterVec::new(
            Opts::new("floe_store_bytes_total", "Object-store payload bytes by operation and direction"),
            &["op", "direction"],
        )
        .map_err(|e| Error::Config(e.to_string()))?;
        for collector in [&requests, &bytes] {
            registry.register(Box::new(collector.clone())).map_err(|e| Error::Config(e.to_string()))?;
        }
        Ok(StoreMetrics { requests, bytes })
    }

    /// Requests of kind `op`, whatever their outcome.
    pub fn requests(&self, op: Op) -> u64 {
        ["ok", "not_found", "conflict", "timeout", "unavailable", "error"]
            .iter()
            .map(|o| self.requests.with_label_values(&[op.name(), o]).get())
            .sum()
    }

    /// Bytes sent with (`sent`) or received from (`!sent`) requests of kind `op`.
    pub fn bytes(&self, op: Op, sent: bool) -> u64 {
        let direction = if sent { "sent" } else { "received" };
        self.bytes.with_label_values(&[op.name(), direction]).get()
    }
}

impl Layer for StoreMetrics {
    async fn around<'a, T: Payload + Send + 'a>(
        &'a self,
        op: Op,
        sent: u64,
        call: impl Fn() -> BoxFuture<'a, Result<T>> + Send + Sync + 'a,
    ) -> Result<T> {
        let result = call().await;
        self.requests.with_label_values(&[op.name(), outcome(&result)]).inc();
        self.bytes.with_label_values(&[op.name(), "sent"]).inc_by(sent);
        if let Ok(payload) = &result {
            self.bytes.with_label_values(&[op.name(), "received"]).inc_by(payload.received());
        }
        result
    }
}

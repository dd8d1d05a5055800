//! Fault injection for tests and chaos drills: errors at a rate, added latency, failing
//! the Nth request, a store that is down, and ambiguous writes (the write lands, the
//! answer is an error). Settings give the starting point; [`Faults`] changes them while
//! the store is in use.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::layers::{BoxFuture, Layer, Op, Payload};

/// Faults to inject from the start. All off by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSettings {
    /// Probability (0.0..=1.0) that a request fails with a retriable error before
    /// reaching the store (like S3's 503 SlowDown).
    pub error_rate: f64,
    /// Probability that a write reaches the store but its answer is an error.
    pub ambiguous_rate: f64,
    /// Latency added to every request, in milliseconds.
    pub latency_ms: u64,
    /// Fail the Nth request (1-based) once; 0 disables.
    pub fail_nth: u64,
    /// Only these operations are affected (`put`, `get_range`...); empty means all.
    pub ops: Vec<String>,
    /// Seed of the fault dice, so that a failing run can be repeated.
    pub seed: u64,
    /// Let the broker's HTTP listener change these faults while it runs
    /// (`POST /faults?down=true`). For tests and drills only.
    pub control: bool,
}

impl Default for FaultSettings {
    fn default() -> Self {
        FaultSettings {
            error_rate: 0.0,
            ambiguous_rate: 0.0,
            latency_ms: 0,
            fail_nth: 0,
            ops: Vec::new(),
            seed: 0x5eed,
            control: false,
        }
    }
}

const PPM: f64 = 1_000_000.0;

fn to_ppm(rate: f64) -> u64 {
    (rate.clamp(0.0, 1.0) * PPM) as u64
}

/// Live control over injected faults; clones share state.
#[derive(Debug, Clone)]
pub struct Faults {
    inner: Arc<FaultState>,
}

#[derive(Debug)]
struct FaultState {
    error_ppm: AtomicU64,
    ambiguous_ppm: AtomicU64,
    latency_ms: AtomicU64,
    fail_nth: AtomicU64,
    down: AtomicBool,
    seen: AtomicU64,
    ops: Vec<String>,
    rng: Mutex<SmallRng>,
}

impl Faults {
    /// Faults starting as `settings` say.
    pub fn new(settings: &FaultSettings) -> Self {
        Faults {
            inner: Arc::new(FaultState {
                error_ppm: AtomicU64::new(to_ppm(settings.error_rate)),
                ambiguous_ppm: AtomicU64::new(to_ppm(settings.ambiguous_rate)),
                latency_ms: AtomicU64::new(settings.latency_ms),
                fail_nth: AtomicU64::new(settings.fail_nth),
                down: AtomicBool::new(false),
                seen: AtomicU64::new(0),
                ops: settings.ops.clone(),
                rng: Mutex::new(SmallRng::seed_from_u64(settings.seed)),
            }),
        }
    }

    /// Sets the probability of a retriable error per request.
    pub fn set_error_rate(&self, rate: f64) {
        self.inner.error_ppm.store(to_ppm(rate), Ordering::Relaxed);
    }

    /// Sets the probability that a write lands but answers with an error.
    pub fn set_ambiguous_rate(&self, rate: f64) {
        self.inner.ambiguous_ppm.store(to_ppm(rate), Ordering::Relaxed);
    }

    /// Sets the latency added to each request.
    pub fn set_latency(&self, latency: Duration) {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.inner.latency_ms.store(ms, Ordering::Relaxed);
    }

    /// Takes the store down (every request fails as unreachable) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.inner.down.store(down, Ordering::Relaxed);
    }

    /// Fails the `n`th request from now (1 = the next one).
    pub fn fail_in(&self, n: u64) {
        let seen = self.inner.seen.load(Ordering::Relaxed);
        self.inner.fail_nth.store(seen + n, Ordering::Relaxed);
    }

    /// Changes one fault by name, as the HTTP control gives it: `error_rate`,
    /// `ambiguous_rate`, `latency_ms`, `down`, `fail_in`.
    pub fn set(&self, name: &str, value: &str) -> std::result::Result<(), String> {
        let bad = || format!("bad value {value:?} for fault {name}");
        match name {
            "error_rate" => self.set_error_rate(value.parse().map_err(|_| bad())?),
            "ambiguous_rate" => self.set_ambiguous_rate(value.parse().map_err(|_| bad())?),
            "latency_ms" => self.set_latency(Duration::from_millis(value.parse().map_err(|_| bad())?)),
            "down" => self.set_down(value.parse().map_err(|_| bad())?),
            "fail_in" => self.fail_in(value.parse().map_err(|_| bad())?),
            _ => return Err(format!("unknown fault {name}")),
        }
        Ok(())
    }

    fn roll(&self, ppm: u64) -> bool {
        if ppm == 0 {
            return false;
        }
        match self.inner.rng.lock() {
            Ok(mut rng) => rng.random_range(0..PPM as u64) < ppm,
            Err(_) => false,
        }
    }

    fn applies_to(&self, op: Op) -> bool {
        self.inner.ops.is_empty() || self.inner.ops.iter().any(|o| o == op.name())
    }
}

impl Layer for Faults {
    async fn around<'a, T: Payload + Send + 'a>(
        &'a self,
        op: Op,
        _sent: u64,
        call: impl Fn() -> BoxFuture<'a, Result<T>> + Send + Sync + 'a,
    ) -> Result<T> {
        if !self.applies_to(op) {
            return call().await;
        }
        let state = &self.inner;
        let n = state.seen.fetch_add(1, Ordering::Relaxed) + 1;
        let latency = state.latency_ms.load(Ordering::Relaxed);
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        if state.down.load(Ordering::Relaxed) {
            return Err(Error::Unavailable("injected: store is down".into()));
        }
        if state.fail_nth.load(Ordering::Relaxed) == n {
            return Err(Error::Unavailable(format!("injected: request {n} fails")));
        }
        if self.roll(state.error_ppm.load(Ordering::Relaxed)) {
            return Err(Error::Unavailable("injected: 503 SlowDown".into()));
        }
        let result = call().await;
        if op.is_write() && self.roll(state.ambiguous_ppm.load(Ordering::Relaxed)) {
            return Err(Error::Unavailable(format!(
                "injected: answer lost after the write {}",
                if result.is_ok() { "succeeded" } else { "failed" }
            )));
        }
        result
    }
}

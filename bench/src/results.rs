//! A run's results as written to `results.json`: the input of `floe-bench report`.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::machine::{Machine, ProcessStats};
use crate::metrics::StoreCounts;
use crate::target::Target;
use crate::workload::{Phase, Workload};

/// GiB, in bytes.
pub const GIB: f64 = (1u64 << 30) as f64;

/// Everything one invocation of `floe-bench run` measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    /// The exact command line.
    pub command: String,
    /// Where and when.
    pub machine: Machine,
    /// What the clients did, the same for every target.
    pub workload: Workload,
    /// One entry per target, in the order they ran.
    pub targets: Vec<TargetResult>,
}

/// What one target measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetResult {
    /// Which broker over which store.
    pub target: Target,
    /// The broker's `--version`.
    pub version: String,
    /// Produce with tailing consumers.
    pub tail: Phase,
    /// Consume the backlog from the earliest offset.
    pub catch_up: Phase,
    /// Broker CPU seconds during the tailing phase.
    pub tail_cpu_seconds: f64,
    /// Broker CPU seconds during the catch-up phase.
    pub catch_up_cpu_seconds: f64,
    /// Broker process at the end of the run (CPU total and peak RSS).
    pub broker: ProcessStats,
    /// Store requests during the tailing phase, by the broker's own counters.
    pub store_tail: Option<StoreCounts>,
    /// Store requests during the catch-up phase, by the broker's own counters.
    pub store_catch_up: Option<StoreCounts>,
    /// Store requests during the tailing phase, by the S3 server's access log.
    pub s3_tail: Option<StoreCounts>,
    /// Store requests during the catch-up phase, by the S3 server's access log.
    pub s3_catch_up: Option<StoreCounts>,
}

impl TargetResult {
    /// GiB acknowledged to producers.
    pub fn produced_gib(&self) -> f64 {
        self.tail.produced_bytes as f64 / GIB
    }

    /// PUT-like requests (whole-object writes) per GiB produced, by the best witness:
    /// the broker's own counters, else the S3 server's log.
    pub fn puts_per_gib(&self) -> Option<f64> {
        let gib = self.produced_gib();
        if gib == 0.0 {
            return None;
        }
        match (&self.store_tail, &self.s3_tail) {
            (Some(own), _) => Some(own.sum(&["put", "put_if_absent"]) / gib),
            (None, Some(s3)) => Some(s3.sum(&["PUT", "POST"]) / gib),
            (None, None) => None,
        }
    }
}

impl RunResults {
    /// Reads `results.json`.
    pub fn load(path: &Path) -> Result<RunResults> {
        let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))
    }

    /// Writes `results.json`.
    pub fn save(&self, path: &Path) -> Result<()> {
        std::fs::write(path, serde_json::to_string_pretty(self)?)
            .with_context(|| format!("write {}", path.display()))
    }
}

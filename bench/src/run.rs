//! One target, end to end: start it, create the topic, run the tailing then the catch-up
//! phase, and read the broker's CPU, memory and store counters around each phase.

use std::path::Path;

use anyhow::{Context, Result};

use crate::metrics::StoreCounts;
use crate::results::TargetResult;
use crate::target::{Programs, Running, Target};
use crate::workload::Workload;

fn since(after: Option<StoreCounts>, before: &Option<StoreCounts>) -> Option<StoreCounts> {
    Some(after?.since(before.as_ref()?))
}

/// Runs `workload` against `target`, with scratch space under `scratch`.
pub fn run_target(
    target: Target,
    workload: &Workload,
    programs: &Programs,
    scratch: &Path,
) -> Result<TargetResult> {
    let broker = Running::start(target, programs, scratch).with_context(|| format!("start {target}"))?;
    let version = broker.version(programs);
    workload.create_topic(&broker.bootstrap()).with_context(|| format!("{target}: create topic"))?;

    let (own0, s3_0, cpu0) = (broker.own_store_counts()?, broker.s3_server_counts()?, broker.stats()?);
    let tail = workload.tail(&broker.bootstrap()).with_context(|| format!("{target}: tailing phase"))?;
    let (own1, s3_1, cpu1) = (broker.own_store_counts()?, broker.s3_server_counts()?, broker.stats()?);
    let catch_up = workload
        .catch_up(&broker.bootstrap(), tail.produced_records)
        .with_context(|| format!("{target}: catch-up phase"))?;
    let (own2, s3_2, cpu2) = (broker.own_store_counts()?, broker.s3_server_counts()?, broker.stats()?);

    Ok(TargetResult {
        target,
        version,
        tail,
        catch_up,
        tail_cpu_seconds: cpu1.cpu_seconds - cpu0.cpu_seconds,
        catch_up_cpu_seconds: cpu2.cpu_seconds - cpu1.cpu_seconds,
        broker: cpu2,
        store_tail: since(own1.clone(), &own0),
        store_catch_up: since(own2, &own1),
        s3_tail: since(s3_1.clone(), &s3_0),
        s3_catch_up: since(s3_2, &s3_1),
    })
}

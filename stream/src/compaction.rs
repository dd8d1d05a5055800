//! Compaction: rewrites the blocks of small objects into fewer, larger ones, one block
//! per run of a stream's blocks, and swaps each new object in with one metadata change.
//! Owns planning and rewriting; not when it runs, nor deleting what it replaced (both
//! the engine's).
//!
//! The object WAL writes one object per window, holding a little of many streams, so a
//! reader catching up on one stream pays a GET per window. After compaction it pays one
//! per new block, and the bucket holds a few large objects instead of many small ones.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use floe_backends::ObjectStore;
use prometheus::{IntCounter, Registry};

use crate::engine::EngineSettings;
use crate::error::{Error, ErrorKind, Result};
use crate::meta::{BlockId, BlockRef, Change, MetaStore, Replacement, State, get_all};
use crate::object::{Batch, BlockEntry, ObjectBuilder, decode_block, decode_object};
use crate::paths;

/// Most objects one pass reads. Bounds the GETs of a pass and the size of its metadata
/// entries (one id per replaced block); the next pass takes the rest.
const MAX_INPUTS: usize = 256;

/// The sizes compaction works to, from [`EngineSettings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Objects smaller than this are inputs.
    pub(crate) small_object_bytes: u64,
    /// A pass reads about this much and writes objects of about this size.
    pub(crate) target_object_bytes: u64,
    /// A stream with this much data in a pass gets objects of its own.
    pub(crate) split_stream_bytes: u64,
    /// A new block is closed once it holds this much.
    pub(crate) block_bytes: u64,
}

impl From<&EngineSettings> for Limits {
    fn from(s: &EngineSettings) -> Self {
        Limits {
            small_object_bytes: s.compaction_small_object_bytes,
            target_object_bytes: s.compaction_target_object_bytes,
            split_stream_bytes: s.compaction_split_stream_bytes,
            block_bytes: s.compaction_block_bytes,
        }
    }
}

/// Consecutive blocks of one stream, to be rewritten as one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) stream: u64,
    /// The stream's first readable offset when planned: batches wholly below it are
    /// dropped rather than rewritten.
    pub(crate) start_offset: u64,
    pub(crate) blocks: Vec<BlockRef>,
}

impl Run {
    fn bytes(&self) -> u64 {
        self.blocks.iter().map(|b| b.entry.length).sum()
    }
}

/// What one pass reads and writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Objects read whole, once each. Every block in them is in some run, so once the
    /// outputs are committed no stream reads them.
    pub(crate) inputs: Vec<String>,
    /// The new objects, each a list of runs.
    pub(crate) outputs: Vec<Vec<Run>>,
}

/// Picks a pass's work from the state: a bounded batch of small objects, in key order
/// (a writer's keys sort by age), and the runs of blocks they hold. Nothing if fewer than
/// two objects qualify, since rewriting one object alone saves nothing. Objects of
/// unknown size (committed before sizes were recorded) are left alone.
pub(crate) fn plan(state: &State, limits: &Limits) -> Plan {
    let mut small: BTreeMap<&str, u64> = BTreeMap::new();
    for s in state.streams.values() {
        for b in &s.blocks {
            if b.object_size > 0 && b.object_size < limits.small_object_bytes {
                small.insert(&b.object, b.object_size);
            }
        }
    }
    let mut inputs: BTreeSet<&str> = BTreeSet::new();
    let mut total = 0u64;
    for (key, size) in small {
        if inputs.len() == MAX_INPUTS || (!inputs.is_empty() && total + size > limits.target_object_bytes) {
            break;
        }
        inputs.insert(key);
        total += size;
    }
    if inputs.len() < 2 {
        return Plan::default();
    }
    let mut by_stream: BTreeMap<u64, Vec<Run>> = BTreeMap::new();
    for (id, s) in &state.streams {
        let mut run = Run { stream: *id, start_offset: s.start_offset, blocks: Vec::new() };
        for b in &s.blocks {
            let full = !run.blocks.is_empty() && run.bytes() + b.entry.length > limits.block_bytes;
            if !inputs.contains(b.object.as_str()) || full {
                let next = Run { blocks: Vec::new(), ..run.clone() };
                if !run.blocks.is_empty() {
                    by_stream.entry(*id).or_default().push(run);
                }
                run = next;
            }
            if inputs.contains(b.object.as_str()) {
                run.blocks.push(b.clone());
            }
        }
        if !run.blocks.is_empty() {
            by_stream.entry(*id).or_default().push(run);
        }
    }
    Plan { inputs: inputs.into_iter().map(str::to_string).collect(), outputs: pack(by_stream, limits) }
}

/// Plans a rewrite of every block of `stream` that ends at or below `below`, in runs,
/// packed like a compaction's. Its inputs hold other streams' blocks too: they are
/// released, and deleted only once nothing reads them.
pub(crate) fn plan_stream(state: &State, stream: u64, below: u64, limits: &Limits) -> Plan {
    let Some(s) = state.streams.get(&stream) else { return Plan::default() };
    let mut runs = Vec::new();
    let mut run = Run { stream, start_offset: s.start_offset, blocks: Vec::new() };
    for b in s.blocks.iter().filter(|b| b.entry.end_offset() <= below) {
        if !run.blocks.is_empty() && run.bytes() + b.entry.length > limits.block_bytes {
            let next = Run { blocks: Vec::new(), ..run.clone() };
            runs.push(std::mem::replace(&mut run, next));
        }
        run.blocks.push(b.clone());
    }
    if !run.blocks.is_empty() {
        runs.push(run);
    }
    let inputs: BTreeSet<String> =
        runs.iter().flat_map(|r| r.blocks.iter().map(|b| b.object.clone())).collect();
    let mut outputs = Vec::new();
    fill(&mut outputs, runs, limits.target_object_bytes);
    Plan { inputs: inputs.into_iter().collect(), outputs }
}

/// Packs runs into objects of about the target size. A stream with enough data for an
/// object that is not itself small gets objects of its own (so a catch-up reader of a
/// busy stream reads nothing else); the rest share.
fn pack(by_stream: BTreeMap<u64, Vec<Run>>, limits: &Limits) -> Vec<Vec<Run>> {
    let split = limits.split_stream_bytes.max(limits.small_object_bytes);
    let mut outputs = Vec::new();
    let mut shared = Vec::new();
    for runs in by_stream.into_values() {
        if runs.iter().map(Run::bytes).sum::<u64>() >= split {
            fill(&mut outputs, runs, limits.target_object_bytes);
        } else {
            shared.extend(runs);
        }
    }
    fill(&mut outputs, shared, limits.target_object_bytes);
    outputs
}

/// Appends `runs` to new objects, starting the next object when one would pass `target`.
fn fill(outputs: &mut Vec<Vec<Run>>, runs: Vec<Run>, target: u64) {
    let mut current: Vec<Run> = Vec::new();
    let mut bytes = 0;
    for run in runs {
        if !current.is_empty() && bytes + run.bytes() > target {
            outputs.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += run.bytes();
        current.push(run);
    }
    if !current.is_empty() {
        outputs.push(current);
    }
}

/// Replaces one batch, given its first offset, by frames spanning exactly the same
/// offsets (a frame with an empty payload holds offsets no record has any more); `None`
/// keeps it as it is.
pub type Rewriter<'a> = &'a (dyn Fn(u64, &Batch) -> Option<Vec<Batch>> + Sync);

/// What a compaction pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionStats {
    /// Objects read that no stream reads any more (deleted after the grace period).
    pub objects_compacted: u64,
    /// New objects committed.
    pub objects_written: u64,
    /// Bytes of the new objects.
    pub bytes_written: u64,
}

/// An input object, read whole and checked.
struct Input {
    bytes: Bytes,
    index: HashMap<u64, BlockEntry>,
}

/// Runs compaction passes, one at a time, and counts what they do.
#[derive(Debug)]
pub(crate) struct Compactor {
    writer: String,
    /// Number of the last object written; held for a whole pass, so passes never overlap.
    written: tokio::sync::Mutex<u64>,
    objects_compacted: IntCounter,
    bytes_written: IntCounter,
}

fn counter(registry: &Registry, name: &str, help: &str) -> Result<IntCounter> {
    let c = IntCounter::new(name, help).map_err(|e| Error::Invalid(e.to_string()))?;
    registry.register(Box::new(c.clone())).map_err(|e| Error::Invalid(e.to_string()))?;
    Ok(c)
}

impl Compactor {
    /// A compactor writing objects named after `writer`, counting into `registry`.
    pub(crate) fn new(writer: String, registry: &Registry) -> Result<Self> {
        Ok(Compactor {
            writer,
            written: tokio::sync::Mutex::new(0),
            objects_compacted: counter(
                registry,
                "floe_compaction_objects_total",
                "Objects compacted away: rewritten into larger ones and no longer read",
            )?,
            bytes_written: counter(
                registry,
                "floe_compaction_written_bytes_total",
                "Bytes written by compaction",
            )?,
        })
    }

    /// One pass: plans, reads each input once, writes and commits the new objects, then
    /// hands every input to `release` (which deletes those no stream reads any more).
    /// Stops at the first failure; whatever was committed before it stays.
    pub(crate) async fn run_once(
        &self,
        store: &Arc<dyn ObjectStore>,
        meta: &Arc<dyn MetaStore>,
        settings: &EngineSettings,
        release: impl FnOnce(Vec<String>),
    ) -> Result<CompactionStats> {
        self.pass(store, meta, settings, plan, None, release).await
    }

    /// Rewrites the blocks of `stream` below `below` through `rewriter` (a topic's log
    /// cleaner, say), committing only the runs it changed.
    #[allow(clippy::too_many_arguments)] // a pass's context, and what to rewrite
    pub(crate) async fn rewrite_stream(
        &self,
        store: &Arc<dyn ObjectStore>,
        meta: &Arc<dyn MetaStore>,
        settings: &EngineSettings,
        stream: u64,
        below: u64,
        rewriter: Rewriter<'_>,
        release: impl FnOnce(Vec<String>),
    ) -> Result<CompactionStats> {
        let planner = |state: &State, limits: &Limits| plan_stream(state, stream, below, limits);
        self.pass(store, meta, settings, planner, Some(rewriter), release).await
    }

    async fn pass(
        &self,
        store: &Arc<dyn ObjectStore>,
        meta: &Arc<dyn MetaStore>,
        settings: &EngineSettings,
        planner: impl FnOnce(&State, &Limits) -> Plan,
        rewriter: Option<Rewriter<'_>>,
        release: impl FnOnce(Vec<String>),
    ) -> Result<CompactionStats> {
        let mut written = self.written.lock().await;
        meta.sync().await?;
        let plan = planner(&meta.state(), &Limits::from(settings));
        if plan.outputs.is_empty() {
            return Ok(CompactionStats::default());
        }
        let mut stats = CompactionStats::default();
        let result = async {
            let inputs = read_inputs(store, &plan.inputs).await?;
            for runs in &plan.outputs {
                let Some((object, replacements)) = rewrite(runs, &inputs, rewriter)? else { continue };
                *written += 1;
                let key = paths::compacted_object(&self.writer, *written);
                let size = object.len() as u64;
                if let Err(e) = store.put(&key, object).await {
                    // The write may have landed; nothing references it, so it can go.
                    let _ = store.delete(&key).await;
                    return Err(e.into());
                }
                if commit(store, meta, &key, size, replacements).await? {
                    stats.objects_written += 1;
                    stats.bytes_written += size;
                    self.bytes_written.inc_by(size);
                }
            }
            Ok(())
        }
        .await;
        {
            let state = meta.state();
            let live = state.referenced_objects();
            stats.objects_compacted =
                plan.inputs.iter().filter(|o| !live.contains(o.as_str())).count() as u64;
        }
        self.objects_compacted.inc_by(stats.objects_compacted);
        release(plan.inputs);
        result.map(|()| stats)
    }
}

async fn read_inputs(store: &Arc<dyn ObjectStore>, keys: &[String]) -> Result<HashMap<String, Input>> {
    let bodies = get_all(store, keys.to_vec()).await?;
    let mut out = HashMap::with_capacity(keys.len());
    for (key, bytes) in keys.iter().zip(bodies) {
        let index = decode_object(&bytes)?.into_iter().map(|e| (e.position, e)).collect();
        out.insert(key.clone(), Input { bytes, index });
    }
    Ok(out)
}

/// Builds one output object from its runs: the batches of each run at the offsets they
/// had, as they are or as `rewriter` makes them (then runs it left alone are not
/// rewritten). `None` if no run is left.
fn rewrite(
    runs: &[Run],
    inputs: &HashMap<String, Input>,
    rewriter: Option<Rewriter<'_>>,
) -> Result<Option<(Bytes, Vec<Replacement>)>> {
    let mut builder = ObjectBuilder::new();
    let mut replaced = Vec::with_capacity(runs.len());
    for run in runs {
        let mut base = None;
        let mut batches: Vec<Batch> = Vec::new();
        let mut changed = rewriter.is_none();
        for b in &run.blocks {
            let input = inputs
                .get(&b.object)
                .ok_or_else(|| Error::Invalid(format!("compaction did not read {}", b.object)))?;
            if input.index.get(&b.entry.position) != Some(&b.entry) {
                return Err(Error::Corrupt(format!(
                    "{} has no block at {} as the metadata says",
                    b.object, b.entry.position
                )));
            }
            let at = b.entry.position as usize;
            let mut offset = b.entry.base_offset;
            for batch in decode_block(input.bytes.slice(at..at + b.entry.length as usize))? {
                let end = offset + u64::from(batch.records);
                if end > run.start_offset {
                    base.get_or_insert(offset);
                    match rewriter.and_then(|r| r(offset, &batch)) {
                        Some(frames) => {
                            if frames.iter().map(|f| u64::from(f.records)).sum::<u64>()
                                != u64::from(batch.records)
                            {
                                return Err(Error::Invalid(format!(
                                    "a rewrite of the batch at {offset} of stream {} changes its offsets",
                                    run.stream
                                )));
                            }
                            changed = true;
                            batches.extend(frames);
                        }
                        None => batches.push(batch),
                    }
                }
                offset = end;
            }
            if offset != b.entry.end_offset() {
                return Err(Error::Corrupt(format!(
                    "block of stream {} in {} holds offsets up to {offset}, index says {}",
                    run.stream,
                    b.object,
                    b.entry.end_offset()
                )));
            }
        }
        let Some(base) = base.filter(|_| changed) else { continue };
        let block = builder.add_block(run.stream, base, &batches);
        let ids = run.blocks.iter().map(|b| BlockId { object: b.object.clone(), position: b.entry.position });
        replaced.push(Replacement { block, replaced: ids.collect() });
    }
    if builder.is_empty() {
        return Ok(None);
    }
    Ok(Some((builder.finish().0, replaced)))
}

/// Commits a written output, keeping the replacements still valid: a trim or a topic
/// deletion since planning costs only the runs it touched. Returns whether the object
/// is now referenced. It is deleted only when the metadata is known not to reference
/// it: an ambiguous commit may have landed.
async fn commit(
    store: &Arc<dyn ObjectStore>,
    meta: &Arc<dyn MetaStore>,
    key: &str,
    object_size: u64,
    mut replacements: Vec<Replacement>,
) -> Result<bool> {
    // A trim racing each attempt is all that can make the check fail again.
    const ATTEMPTS: usize = 3;
    let mut failure = None;
    for _ in 0..ATTEMPTS {
        meta.sync().await?;
        {
            let state = meta.state();
            if state.referenced_objects().contains(key) {
                return Ok(true);
            }
            replacements.retain(|r| state.check_replacement(r).is_ok());
        }
        if replacements.is_empty() {
            break;
        }
        let change = Change::ReplaceBlocks {
            object: key.to_string(),
            object_size,
            replacements: replacements.clone(),
        };
        match meta.commit(change).await {
            Ok(()) => return Ok(true),
            Err(e) if e.kind() == ErrorKind::InvalidInput => failure = Some(e),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let unused = meta.sync().await.is_ok() && !meta.state().referenced_objects().contains(key);
    if unused && let Err(e) = store.delete(key).await {
        tracing::warn!(key, error = %e, "could not delete an unused compaction output; it stays as an orphan");
    }
    failure.map_or(Ok(false), Err)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const LIMITS: Limits = Limits {
        small_object_bytes: 100,
        target_object_bytes: 400,
        split_stream_bytes: 150,
        block_bytes: 60,
    };

    /// A state of `streams` streams whose blocks are spread over objects: `layout[i]` is
    /// (object number, stream, block length) of the i-th block committed.
    fn state(layout: &[(u8, u8, u8)], sizes: &[u8], trims: &[(u8, u8)]) -> State {
        let mut st = State::default();
        for (object, stream, length) in layout {
            let s = st.streams.entry(u64::from(*stream)).or_default();
            let records = u64::from(*length % 5 + 1);
            s.blocks.push(BlockRef {
                object: format!("o{object:03}"),
                object_size: u64::from(sizes[usize::from(*object) % sizes.len()]),
                entry: BlockEntry {
                    stream: u64::from(*stream),
                    base_offset: s.end_offset,
                    records,
                    position: s.blocks.len() as u64 * 1000 + u64::from(*stream),
                    length: u64::from(*length),
                    max_timestamp: 0,
                },
            });
            s.end_offset += records;
        }
        for (stream, by) in trims {
            if let Some(s) = st.streams.get_mut(&u64::from(*stream)) {
                s.start_offset = (s.start_offset + u64::from(*by)).min(s.end_offset);
                let start = s.start_offset;
                s.blocks.retain(|b| b.entry.end_offset() > start);
            }
        }
        st
    }

    fn prefix_next<'a>(small: &BTreeMap<&'a str, u64>, n: usize) -> &'a str {
        small.keys().nth(n).copied().unwrap()
    }

    fn arb_state() -> impl Strategy<Value = State> {
        (
            proptest::collection::vec((0u8..12, 0u8..4, 1u8..80), 0..60),
            proptest::collection::vec(1u8..=255, 1..12),
            proptest::collection::vec((0u8..4, 0u8..20), 0..3),
        )
            .prop_map(|(layout, sizes, trims)| state(&layout, &sizes, &trims))
    }

    proptest! {
        /// The plan agrees with a plain model of what it must do, and applying it (as the
        /// executor would, with every batch kept) leaves every stream's offsets as they were.
        #[test]
        fn plan_matches_model(st in arb_state()) {
            let p = plan(&st, &LIMITS);
            let inputs: BTreeSet<&str> = p.inputs.iter().map(String::as_str).collect();
            let mut small: BTreeMap<&str, u64> = BTreeMap::new();
            for s in st.streams.values() {
                for b in &s.blocks {
                    if b.object_size < LIMITS.small_object_bytes {
                        small.insert(&b.object, b.object_size);
                    }
                }
            }
            if p.outputs.is_empty() {
                prop_assert!(p.inputs.len() < 2 || small.len() < 2);
                return Ok(());
            }
            // inputs: the first small objects in key order, at least two, within the budget
            prop_assert!(p.inputs.len() >= 2);
            let prefix: Vec<&str> = small.keys().take(p.inputs.len()).copied().collect();
            prop_assert_eq!(prefix, inputs.iter().copied().collect::<Vec<_>>());
            let total: u64 = p.inputs.iter().map(|k| small[k.as_str()]).sum();
            prop_assert!(total <= LIMITS.target_object_bytes);
            // every block of an input is in exactly one run; no other block is
            let planned: Vec<&BlockRef> = p.outputs.iter().flatten().flat_map(|r| &r.blocks).collect();
            let wanted: Vec<&BlockRef> = st.streams.values().flat_map(|s| &s.blocks)
                .filter(|b| inputs.contains(b.object.as_str())).collect();
            prop_assert_eq!(planned.len(), wanted.len());
            for b in &wanted {
                prop_assert!(planned.contains(b));
            }
            if p.inputs.len() < small.len().min(MAX_INPUTS) {
                prop_assert!(total + small[prefix_next(&small, p.inputs.len())] > LIMITS.target_object_bytes);
            }
            let mut per_stream: BTreeMap<u64, u64> = BTreeMap::new();
            for r in p.outputs.iter().flatten() {
                *per_stream.entry(r.stream).or_default() += r.bytes();
            }
            let threshold = LIMITS.split_stream_bytes.max(LIMITS.small_object_bytes);
            let busy: BTreeSet<u64> = per_stream.iter().filter(|(_, b)| **b >= threshold).map(|(s, _)| *s).collect();
            let mut after = st.clone();
            for (n, runs) in p.outputs.iter().enumerate() {
                let size: u64 = runs.iter().map(Run::bytes).sum();
                prop_assert!(size <= LIMITS.target_object_bytes || runs.len() == 1);
                let replacements: Vec<Replacement> = runs.iter().map(|r| {
                    // each run is consecutive blocks of its stream, bounded in size
                    prop_assert!(r.bytes() <= LIMITS.block_bytes || r.blocks.len() == 1);
                    for w in r.blocks.windows(2) {
                        prop_assert_eq!(w[0].entry.end_offset(), w[1].entry.base_offset);
                    }
                    let first = &r.blocks[0].entry;
                    let records = r.blocks.iter().map(|b| b.entry.records).sum();
                    Ok(Replacement {
                        block: BlockEntry { records, length: r.bytes(), ..*first },
                        replaced: r.blocks.iter().map(|b| BlockId { object: b.object.clone(), position: b.entry.position }).collect(),
                    })
                }).collect::<Result<_, TestCaseError>>()?;
                let change = Change::ReplaceBlocks { object: format!("c{n}"), object_size: size, replacements };
                prop_assert!(after.check(&change).is_ok(), "{:?}", after.check(&change));
                after.apply(&change);
                // a busy stream's runs never share an object with another stream's
                prop_assert!(runs.iter().all(|r| busy.contains(&r.stream) == busy.contains(&runs[0].stream)));
                prop_assert!(!busy.contains(&runs[0].stream) || runs.iter().all(|r| r.stream == runs[0].stream));
            }
            let live = after.referenced_objects();
            for i in &p.inputs {
                prop_assert!(!live.contains(i.as_str()), "{} still referenced", i);
            }
            for (id, s) in &st.streams {
                let a = &after.streams[id];
                prop_assert_eq!((a.start_offset, a.end_offset), (s.start_offset, s.end_offset));
                let covered: Vec<(u64, u64)> = a.blocks.iter().map(|b| (b.entry.base_offset, b.entry.end_offset())).collect();
                for w in covered.windows(2) {
                    prop_assert_eq!(w[0].1, w[1].0, "contiguous");
                }
                prop_assert_eq!(covered.first().map(|c| c.0), s.blocks.first().map(|b| b.entry.base_offset));
                prop_assert_eq!(covered.last().map(|c| c.1), s.blocks.last().map(|b| b.entry.end_offset()));
            }
        }
    }

    #[test]
    fn a_busy_stream_is_split_off_and_the_rest_share() {
        // stream 0 has 160 bytes in small objects, streams 1 and 2 have 20 each
        let layout: Vec<(u8, u8, u8)> = (0..4).flat_map(|o| [(o, 0, 40), (o, 1, 5), (o, 2, 5)]).collect();
        let st = state(&layout, &[60], &[]);
        let p = plan(&st, &LIMITS);
        assert_eq!(p.inputs.len(), 4);
        let streams: Vec<Vec<u64>> = p.outputs.iter().map(|o| o.iter().map(|r| r.stream).collect()).collect();
        // stream 0's 160 bytes in blocks of at most 60 (40 + 40 > 60), alone; then the rest
        assert_eq!(streams, vec![vec![0, 0, 0, 0], vec![1, 2]]);
        assert_eq!(p.outputs[1][0].blocks.len(), 4, "small runs stay one block");
    }

    #[test]
    fn nothing_to_do_without_two_small_objects() {
        assert_eq!(plan(&state(&[(0, 0, 10), (0, 1, 10)], &[50], &[]), &LIMITS), Plan::default());
        assert_eq!(plan(&state(&[(0, 0, 10), (1, 0, 10)], &[200], &[]), &LIMITS), Plan::default());
    }
}

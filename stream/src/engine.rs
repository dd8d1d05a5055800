//! The engine: appends through the object WAL, reads through the caches, topics and
//! streams through the metadata store. The WAL task is the only committer of data, so
//! offsets are assigned in one place, in commit order.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use floe_backends::ObjectStore;
use prometheus::{IntCounterVec, Opts, Registry};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

use crate::cache::{BlockCache, LogCache};
use crate::compaction::{CompactionStats, Compactor};
use crate::error::{Error, ErrorKind, Result};
use crate::meta::{BlockRef, Change, MetaStore, ProducerUpdate, Topic};
use crate::object::{Batch, ObjectBuilder, decode_block, decode_object};
use crate::paths;
use crate::producer::{ProducerStamp, ProducerState, Verdict};

/// Engine settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineSettings {
    /// How long the object WAL collects appends before writing them as one object.
    #[serde(with = "floe_backends::millis")]
    pub wal_window: Duration,
    /// A window closes early once it holds this many bytes.
    pub wal_window_bytes: usize,
    /// Memory for the newest batches of every stream.
    pub log_cache_bytes: usize,
    /// Memory for recently read blocks.
    pub block_cache_bytes: usize,
    /// Objects up to this size are read whole on a cache miss (readahead).
    pub readahead_object_bytes: u64,
    /// How long an object no stream reads any more is kept before it is deleted.
    #[serde(with = "floe_backends::millis")]
    pub delete_grace: Duration,
    /// Metadata snapshot every this many log entries.
    pub meta_snapshot_every: u64,
    /// How often compaction looks for small objects to merge; 0 turns it off.
    #[serde(with = "floe_backends::millis")]
    pub compaction_interval: Duration,
    /// Objects smaller than this are compacted. The default is the WAL's window size:
    /// every window that closed on time rather than on size.
    pub compaction_small_object_bytes: u64,
    /// Compaction reads about this much per pass and writes objects of about this size.
    pub compaction_target_object_bytes: u64,
    /// A stream with this much data in a pass gets compacted objects of its own.
    pub compaction_split_stream_bytes: u64,
    /// Compaction closes a block at this size, so that a reader fetching a block of a
    /// large compacted object (a ranged GET) does not pay for much more than it reads.
    pub compaction_block_bytes: u64,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            wal_window: Duration::from_millis(10),
            wal_window_bytes: 8 << 20,
            log_cache_bytes: 256 << 20,
            block_cache_bytes: 128 << 20,
            readahead_object_bytes: 16 << 20,
            delete_grace: Duration::from_secs(60),
            meta_snapshot_every: 256,
            compaction_interval: Duration::from_secs(30),
            compaction_small_object_bytes: 8 << 20,
            compaction_target_object_bytes: 64 << 20,
            compaction_split_stream_bytes: 32 << 20,
            compaction_block_bytes: 4 << 20,
        }
    }
}

/// A batch read back, with the offset of its first record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBatch {
    /// Offset of the first record.
    pub base_offset: u64,
    /// The batch as appended.
    pub batch: Batch,
}

/// An append in the WAL's queue.
#[derive(Debug)]
pub struct Submitted(oneshot::Receiver<Result<u64>>);

impl Submitted {
    /// Resolves, once the append is durable and committed, to its first offset.
    pub async fn durable(self) -> Result<u64> {
        self.0.await.map_err(|_| Error::Closed)?
    }
}

struct Append {
    stream: u64,
    batches: Vec<Batch>,
    producer: Option<ProducerStamp>,
    reply: oneshot::Sender<Result<u64>>,
}

impl Append {
    fn records(&self) -> u64 {
        self.batches.iter().map(|b| u64::from(b.records)).sum()
    }
}

impl std::fmt::Debug for Append {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Append").field("stream", &self.stream).finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn ObjectStore>,
    meta: Arc<dyn MetaStore>,
    settings: EngineSettings,
    log_cache: Mutex<LogCache>,
    block_cache: Mutex<BlockCache>,
    commits: watch::Sender<u64>,
    cache_requests: IntCounterVec,
    compactor: Compactor,
}

/// The storage engine. Clones share one engine.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
    wal: mpsc::Sender<Append>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Gives every waiter of a failed window an error of the same kind.
fn share(e: &Error) -> Error {
    match e.kind() {
        ErrorKind::Retriable => Error::Store(floe_backends::Error::Unavailable(e.to_string())),
        ErrorKind::Fenced => Error::Fenced(e.to_string()),
        ErrorKind::Corruption => Error::Corrupt(e.to_string()),
        ErrorKind::InvalidInput | ErrorKind::Internal => Error::Invalid(e.to_string()),
    }
}

impl Engine {
    /// Starts an engine over `store` and `meta`. `writer` names this process in object
    /// keys; it must be unique among processes sharing the bucket.
    pub fn start(
        store: Arc<dyn ObjectStore>,
        meta: Arc<dyn MetaStore>,
        settings: EngineSettings,
        writer: String,
        registry: &Registry,
    ) -> Result<Engine> {
        let cache_requests = IntCounterVec::new(
            Opts::new("floe_cache_requests_total", "Engine cache look-ups by cache and result"),
            &["cache", "result"],
        )
        .map_err(|e| Error::Invalid(e.to_string()))?;
        registry.register(Box::new(cache_requests.clone())).map_err(|e| Error::Invalid(e.to_string()))?;
        let compactor = Compactor::new(writer.clone(), registry)?;
        let inner = Arc::new(Inner {
            store,
            meta,
            log_cache: Mutex::new(LogCache::new(settings.log_cache_bytes)),
            block_cache: Mutex::new(BlockCache::new(settings.block_cache_bytes)),
            settings,
            commits: watch::channel(0).0,
            cache_requests,
            compactor,
        });
        let (wal, rx) = mpsc::channel(1024);
        tokio::spawn(run_wal(inner.clone(), rx, writer));
        if !inner.settings.compaction_interval.is_zero() {
            tokio::spawn(run_compaction(Arc::downgrade(&inner)));
        }
        Ok(Engine { inner, wal })
    }

    /// The metadata store.
    pub fn meta(&self) -> &Arc<dyn MetaStore> {
        &self.inner.meta
    }

    /// Creates a topic of `partitions` new streams.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        configs: BTreeMap<String, String>,
    ) -> Result<Topic> {
        let change =
            Change::CreateTopic { name: name.to_string(), id: uuid::Uuid::new_v4(), partitions, configs };
        self.inner.meta.commit(change).await?;
        self.inner.meta.state().topics.get(name).cloned().ok_or_else(|| Error::UnknownTopic(name.to_string()))
    }

    /// Deletes a topic and its streams.
    pub async fn delete_topic(&self, name: &str) -> Result<()> {
        let (streams, objects) = {
            let state = self.inner.meta.state();
            let streams = state.topics.get(name).map(|t| t.streams.clone()).unwrap_or_default();
            let objects = objects_of(&state, &streams, u64::MAX);
            (streams, objects)
        };
        self.inner.meta.commit(Change::DeleteTopic { name: name.to_string() }).await?;
        {
            let mut cache = lock(&self.inner.log_cache);
            for s in streams {
                cache.forget(s);
            }
        }
        self.inner.release(objects);
        Ok(())
    }

    /// Deletes data objects that no stream references: left by a writer that died
    /// between writing an object and committing it, or before a delayed deletion ran.
    /// Only for the embedded, single-writer mode: call it before serving, when no
    /// other writer's upload can be in flight. Returns how many were deleted.
    pub async fn remove_orphans(&self) -> Result<usize> {
        let _no_compaction = self.inner.compactor.pause().await;
        let listed = self.inner.store.list(paths::DATA).await?;
        let orphans: Vec<String> = {
            let state = self.inner.meta.state();
            let live = state.referenced_objects();
            listed.into_iter().map(|m| m.key).filter(|k| !live.contains(k.as_str())).collect()
        };
        for key in &orphans {
            self.inner.store.delete(key).await?;
        }
        if !orphans.is_empty() {
            tracing::info!(count = orphans.len(), "removed orphaned data objects");
        }
        Ok(orphans.len())
    }

    /// Runs one compaction pass now: merges small objects into larger ones and
    /// schedules the replaced ones for deletion. Returns what it did.
    pub async fn compact_once(&self) -> Result<CompactionStats> {
        self.inner.compact_once().await
    }

    /// Appends batches to a stream; resolves, once they are durable and committed, to
    /// the offset of the first record.
    pub async fn append(&self, stream: u64, batches: Vec<Batch>) -> Result<u64> {
        self.submit(stream, batches, None).await?.durable().await
    }

    /// Queues batches for the WAL and returns without waiting for durability. Batches
    /// submitted one after another (by one task) get increasing offsets in that order.
    /// With a `producer` stamp the append is idempotent: a retry of an append already
    /// written resolves to its first offset and writes nothing.
    pub async fn submit(
        &self,
        stream: u64,
        batches: Vec<Batch>,
        producer: Option<ProducerStamp>,
    ) -> Result<Submitted> {
        if batches.is_empty() || batches.iter().any(|b| b.records == 0) {
            return Err(Error::Invalid("append needs batches of at least one record".into()));
        }
        let (reply, answer) = oneshot::channel();
        self.wal.send(Append { stream, batches, producer, reply }).await.map_err(|_| Error::Closed)?;
        Ok(Submitted(answer))
    }

    /// Replaces a topic's settings.
    pub async fn set_topic_configs(&self, name: &str, configs: BTreeMap<String, String>) -> Result<()> {
        self.inner.meta.commit(Change::SetTopicConfigs { name: name.to_string(), configs }).await
    }

    /// Grows a topic to `partitions` partitions.
    pub async fn add_partitions(&self, name: &str, partitions: u32) -> Result<()> {
        self.inner.meta.commit(Change::AddPartitions { name: name.to_string(), partitions }).await
    }

    /// Makes every offset below `offset` unreadable; returns the stream's new first
    /// offset. Offsets never move backwards.
    pub async fn trim(&self, stream: u64, offset: u64) -> Result<u64> {
        let before = objects_of(&self.inner.meta.state(), &[stream], offset);
        self.inner.meta.commit(Change::TrimStream { stream, start_offset: offset }).await?;
        self.inner.release(before);
        Ok(self.bounds(stream)?.0)
    }

    /// Applies a retention policy to a stream: whole blocks go once all their records
    /// are older than `max_age_ms` (by their largest timestamp, as Kafka judges
    /// segments) or once the stream without them still holds more than `max_bytes`.
    /// Returns the stream's first offset afterwards.
    pub async fn enforce_retention(
        &self,
        stream: u64,
        max_age_ms: Option<i64>,
        max_bytes: Option<u64>,
        now_ms: i64,
    ) -> Result<u64> {
        let target = {
            let state = self.inner.meta.state();
            let s = state.streams.get(&stream).ok_or(Error::UnknownStream(stream))?;
            let mut total: u64 = s.blocks.iter().map(|b| b.entry.length).sum();
            let mut start = s.start_offset;
            for b in &s.blocks {
                let too_old =
                    max_age_ms.is_some_and(|age| b.entry.max_timestamp < now_ms.saturating_sub(age));
                let too_big = max_bytes.is_some_and(|limit| total - b.entry.length >= limit);
                if !(too_old || too_big) {
                    break;
                }
                total -= b.entry.length;
                start = b.entry.end_offset();
            }
            start
        };
        let start = self.bounds(stream)?.0;
        if target <= start {
            return Ok(start);
        }
        self.trim(stream, target).await
    }

    /// Hands out a producer id never handed out before, in this process or any other
    /// sharing the metadata.
    pub async fn allocate_producer_id(&self) -> Result<u64> {
        // Serialised by the metadata store: the id is the counter before this commit.
        loop {
            let before = self.inner.meta.state().next_producer_id;
            self.inner.meta.commit(Change::AllocateProducerId).await?;
            let after = self.inner.meta.state().next_producer_id;
            if after == before + 1 {
                return Ok(before);
            }
        }
    }

    /// `(start, end)`: the first readable offset and the next offset to be written.
    pub fn bounds(&self, stream: u64) -> Result<(u64, u64)> {
        let state = self.inner.meta.state();
        let s = state.streams.get(&stream).ok_or(Error::UnknownStream(stream))?;
        Ok((s.start_offset, s.end_offset))
    }

    /// A receiver that changes whenever anything is committed, for long polls.
    pub fn commits(&self) -> watch::Receiver<u64> {
        self.inner.commits.subscribe()
    }

    /// Reads batches from the one holding `offset` on, up to about `max_bytes` (always
    /// at least one batch if any exists past `offset`).
    pub async fn read(&self, stream: u64, offset: u64, max_bytes: usize) -> Result<Vec<ReadBatch>> {
        let (start, end) = self.bounds(stream)?;
        if offset < start || offset > end {
            return Err(Error::OffsetOutOfRange { offset, start, end });
        }
        let mut out: Vec<ReadBatch> = Vec::new();
        let mut next = offset;
        let mut bytes = 0usize;
        while next < end && (out.is_empty() || bytes < max_bytes) {
            let budget = max_bytes.saturating_sub(bytes);
            let cached = lock(&self.inner.log_cache).read(stream, next, budget);
            let found = match cached {
                Some(found) => {
                    self.count("log", "hit");
                    found
                }
                None => {
                    self.count("log", "miss");
                    self.read_block(stream, next).await?
                }
            };
            let mut progressed = false;
            for (base, batch) in found {
                let batch_end = base + u64::from(batch.records);
                if batch_end <= next {
                    continue;
                }
                if !out.is_empty() && bytes + batch.payload.len() > max_bytes {
                    return Ok(out);
                }
                bytes += batch.payload.len();
                next = batch_end;
                progressed = true;
                out.push(ReadBatch { base_offset: base, batch });
            }
            if !progressed {
                break;
            }
        }
        Ok(out)
    }

    fn count(&self, cache: &str, result: &str) {
        self.inner.cache_requests.with_label_values(&[cache, result]).inc();
    }

    /// The batches of the stored block that holds `offset`.
    async fn read_block(&self, stream: u64, offset: u64) -> Result<Vec<(u64, Batch)>> {
        let block = {
            let state = self.inner.meta.state();
            let s = state.streams.get(&stream).ok_or(Error::UnknownStream(stream))?;
            let i = s
                .block_for(offset)
                .ok_or_else(|| Error::Corrupt(format!("stream {stream} has no block for offset {offset}")))?;
            s.blocks[i].clone()
        };
        let e = block.entry;
        let cached = lock(&self.inner.block_cache).get(&block.object, e.position);
        let bytes: Bytes = match cached {
            Some(b) => {
                self.count("block", "hit");
                b
            }
            None => {
                self.count("block", "miss");
                self.fetch_block(&block).await?
            }
        };
        let mut base = e.base_offset;
        let batches = decode_block(bytes)?;
        let mut out = Vec::with_capacity(batches.len());
        for b in batches {
            let records = u64::from(b.records);
            out.push((base, b));
            base += records;
        }
        if base != e.end_offset() {
            return Err(Error::Corrupt(format!(
                "block of stream {stream} in {} holds offsets up to {base}, index says {}",
                block.object,
                e.end_offset()
            )));
        }
        Ok(out)
    }

    /// Fetches a block from the store into the block cache. An object no larger than
    /// `readahead_object_bytes` is read whole, and all its blocks cached: a reader
    /// catching up on several streams written together then pays one GET per object,
    /// not one per stream.
    async fn fetch_block(&self, block: &BlockRef) -> Result<Bytes> {
        let e = block.entry;
        let whole = block.object_size > 0 && block.object_size <= self.inner.settings.readahead_object_bytes;
        if !whole {
            let b = self.inner.store.get_range(&block.object, e.position..e.position + e.length).await?;
            lock(&self.inner.block_cache).insert(&block.object, e.position, b.clone());
            return Ok(b);
        }
        let object = self.inner.store.get(&block.object).await?;
        let index = decode_object(&object)?;
        let mut cache = lock(&self.inner.block_cache);
        let mut wanted = None;
        for entry in index {
            let bytes = object.slice(entry.position as usize..(entry.position + entry.length) as usize);
            if entry.position == e.position {
                wanted = Some(bytes.clone());
            }
            cache.insert(&block.object, entry.position, bytes);
        }
        wanted.ok_or_else(|| {
            Error::Corrupt(format!("{} has no block at {} as the metadata says", block.object, e.position))
        })
    }

    /// The offset of the first batch whose largest timestamp is at least `timestamp`,
    /// or `None` if there is none.
    pub async fn offset_for_timestamp(&self, stream: u64, timestamp: i64) -> Result<Option<u64>> {
        let candidates: Vec<u64> = {
            let state = self.inner.meta.state();
            let s = state.streams.get(&stream).ok_or(Error::UnknownStream(stream))?;
            s.blocks
                .iter()
                .filter(|b| b.entry.end_offset() > s.start_offset && b.entry.max_timestamp >= timestamp)
                .map(|b| b.entry.base_offset.max(s.start_offset))
                .take(1)
                .collect()
        };
        let Some(from) = candidates.first().copied() else {
            return Ok(None);
        };
        let batches = self.read_block(stream, from).await?;
        Ok(batches
            .iter()
            .find(|(base, b)| base + u64::from(b.records) > from && b.max_timestamp >= timestamp)
            .map(|(base, _)| (*base).max(from)))
    }
}

impl Inner {
    /// Deletes, after the grace period, those of `candidates` no stream reads any more.
    /// Readers that looked an object up just before it lost its last reference still
    /// find it during the grace period. A crash before the deletion leaves an orphan
    /// object: wasted bytes, never a lost record.
    fn release(&self, candidates: Vec<String>) {
        let doomed: Vec<String> = {
            let state = self.meta.state();
            let live = state.referenced_objects();
            candidates.into_iter().filter(|o| !live.contains(o.as_str())).collect()
        };
        if doomed.is_empty() {
            return;
        }
        let store = self.store.clone();
        let grace = self.settings.delete_grace;
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            for key in doomed {
                if let Err(e) = store.delete(&key).await {
                    tracing::warn!(key, error = %e, "could not delete an unreferenced object; it stays as an orphan");
                }
            }
        });
    }

    async fn compact_once(&self) -> Result<CompactionStats> {
        self.compactor.run_once(&self.store, &self.meta, &self.settings, |inputs| self.release(inputs)).await
    }
}

/// Compacts every `compaction_interval` while the engine lives: passes one after
/// another until one finds nothing to do, so a backlog of small objects drains.
async fn run_compaction(inner: Weak<Inner>) {
    // A bound on passes per tick, in case odd settings make a pass's outputs small
    // enough to be planned again.
    const MAX_PASSES: usize = 64;
    let Some(interval) = inner.upgrade().map(|i| i.settings.compaction_interval) else { return };
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for _ in 0..MAX_PASSES {
            let Some(inner) = inner.upgrade() else { return };
            match inner.compact_once().await {
                Ok(stats) if stats.objects_written > 0 => {
                    tracing::debug!(?stats, "compaction pass");
                }
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "compaction pass failed; will try again");
                    break;
                }
            }
        }
    }
}

/// Objects holding blocks of `streams` that end at or below `below`.
fn objects_of(state: &crate::meta::State, streams: &[u64], below: u64) -> Vec<String> {
    let mut out: Vec<String> = streams
        .iter()
        .filter_map(|s| state.streams.get(s))
        .flat_map(|s| s.blocks.iter().filter(|b| b.entry.end_offset() <= below).map(|b| b.object.clone()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The object WAL: collects appends for a window, writes them as one object, commits
/// its index, then answers every append of the window.
async fn run_wal(inner: Arc<Inner>, mut rx: mpsc::Receiver<Append>, writer: String) {
    let mut objects = 0u64;
    while let Some(first) = rx.recv().await {
        let mut bytes: usize = first.batches.iter().map(|b| b.payload.len()).sum();
        let mut window = vec![first];
        let deadline = tokio::time::Instant::now() + inner.settings.wal_window;
        while bytes < inner.settings.wal_window_bytes {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(append)) => {
                    bytes += append.batches.iter().map(|b| b.payload.len()).sum::<usize>();
                    window.push(append);
                }
                Ok(None) | Err(_) => break,
            }
        }
        objects += 1;
        flush(&inner, window, &paths::data_object(&writer, objects)).await;
    }
}

async fn flush(inner: &Inner, window: Vec<Append>, key: &str) {
    if let Err(e) = inner.meta.sync().await {
        tracing::warn!(error = %e, "metadata not in sync; failing the WAL window");
        for a in window {
            let _ = a.reply.send(Err(share(&e)));
        }
        return;
    }
    // Group by stream, keeping each stream's appends in arrival order.
    let mut by_stream: BTreeMap<u64, Vec<Append>> = BTreeMap::new();
    for append in window {
        by_stream.entry(append.stream).or_default().push(append);
    }
    let mut builder = ObjectBuilder::new();
    // (stream, base offset, append, whether it is written by this window)
    let mut waiting: Vec<(u64, u64, Append, bool)> = Vec::new();
    let mut producers: Vec<ProducerUpdate> = Vec::new();
    {
        let state = inner.meta.state();
        for (stream, appends) in by_stream {
            let Some(meta) = state.streams.get(&stream) else {
                for a in appends {
                    let _ = a.reply.send(Err(Error::UnknownStream(stream)));
                }
                continue;
            };
            // Producer state as this window changes it, append by append.
            let mut seen: BTreeMap<u64, ProducerState> = BTreeMap::new();
            let mut next = meta.end_offset;
            let mut batches = Vec::new();
            for a in appends {
                let records = a.records();
                if let Some(p) = a.producer {
                    let current = seen.get(&p.id).or_else(|| meta.producers.get(&p.id));
                    match ProducerState::check(current, p, records as u32) {
                        Err(e) => {
                            let _ = a.reply.send(Err(e));
                            continue;
                        }
                        Ok(Verdict::Duplicate(base)) => {
                            waiting.push((stream, base, a, false));
                            continue;
                        }
                        Ok(Verdict::Append) => {
                            let mut updated = current.cloned().unwrap_or_default();
                            updated.record(p.epoch, p.first_sequence, records as u32, next);
                            seen.insert(p.id, updated);
                            producers.push(ProducerUpdate {
                                stream,
                                producer: p.id,
                                epoch: p.epoch,
                                first_sequence: p.first_sequence,
                                records: records as u32,
                                base_offset: next,
                            });
                        }
                    }
                }
                let base = next;
                next += records;
                batches.extend(a.batches.iter().cloned());
                waiting.push((stream, base, a, true));
            }
            if !batches.is_empty() {
                builder.add_block(stream, meta.end_offset, &batches);
            }
        }
    }
    if builder.is_empty() {
        // Nothing new: only duplicates of appends already committed.
        for (_, base, a, _) in waiting {
            let _ = a.reply.send(Ok(base));
        }
        return;
    }
    let (object, blocks) = builder.finish();
    let object_size = object.len() as u64;
    let result = async {
        inner.store.put(key, object).await?;
        inner
            .meta
            .commit(Change::CommitObject { object: key.to_string(), object_size, blocks, producers })
            .await
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(object = key, error = %e, "WAL window failed; its appends are not acknowledged");
        for (_, _, a, _) in waiting {
            let _ = a.reply.send(Err(share(&e)));
        }
        return;
    }
    {
        let mut cache = lock(&inner.log_cache);
        for (stream, base, a, _) in waiting.iter().filter(|w| w.3) {
            let mut at = *base;
            for b in &a.batches {
                cache.push(*stream, at, b.clone());
                at += u64::from(b.records);
            }
        }
    }
    for (_, base, a, _) in waiting {
        let _ = a.reply.send(Ok(base));
    }
    inner.commits.send_modify(|n| *n += 1);
}

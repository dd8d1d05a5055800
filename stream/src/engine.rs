//! The engine: appends through the WAL (see [`crate::wal`]), reads through the caches,
//! topics and streams through the metadata store.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use floe_backends::ObjectStore;
use prometheus::{IntCounterVec, Opts, Registry};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::cache::{BlockCache, LogCache};
use crate::compaction::{CompactionStats, Compactor, Rewriter};
use crate::error::{Error, Result};
use crate::meta::{BlockRef, Change, MetaStore, Topic};
use crate::object::{Batch, decode_block, decode_object};
use crate::paths;
use crate::producer::ProducerStamp;
use crate::wal::{self, Append, Pending, WalMode};

/// Engine settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineSettings {
    /// Which WAL makes appends durable. Unset: the embedding application chooses (the
    /// broker takes `file` over a local directory, `object` over a bucket).
    pub wal: Option<WalMode>,
    /// How long the object WAL collects appends before writing them as one object. (The
    /// file WAL does not wait: what arrives during one fsync goes in the next.)
    #[serde(with = "floe_backends::millis")]
    pub wal_window: Duration,
    /// A window (or a file WAL group) closes early once it holds this many bytes.
    pub wal_window_bytes: usize,
    /// File WAL: the directory its logs live under, one subdirectory per process. A
    /// process adopts the logs of processes that are gone, so a restarted broker finds
    /// what its predecessor acknowledged. Unset: `floe-data/wal`.
    pub wal_dir: Option<PathBuf>,
    /// File WAL: size at which the log moves on to a new segment file.
    pub wal_segment_bytes: u64,
    /// File WAL: upload once this many bytes are pending...
    pub wal_upload_bytes: usize,
    /// ...or once the oldest pending append has waited this long.
    #[serde(with = "floe_backends::millis")]
    pub wal_upload_interval: Duration,
    /// File WAL: appends wait while this many bytes are not uploaded yet.
    pub wal_max_pending_bytes: usize,
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
            wal: None,
            wal_window: Duration::from_millis(10),
            wal_window_bytes: 8 << 20,
            wal_dir: None,
            wal_segment_bytes: 64 << 20,
            wal_upload_bytes: 8 << 20,
            wal_upload_interval: Duration::from_millis(500),
            wal_max_pending_bytes: 256 << 20,
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

/// What the engine's tasks share.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) meta: Arc<dyn MetaStore>,
    pub(crate) settings: EngineSettings,
    pub(crate) log_cache: Mutex<LogCache>,
    block_cache: Mutex<BlockCache>,
    /// Objects being fetched, each with the gate its readers queue at.
    fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Bumped whenever appends become readable, for long polls.
    pub(crate) commits: watch::Sender<u64>,
    cache_requests: IntCounterVec,
    compactor: Compactor,
    /// File WAL: durable appends not uploaded yet.
    pub(crate) pending: Mutex<Pending>,
    /// This writer's epoch of each stream it has claimed.
    pub(crate) epochs: Mutex<BTreeMap<u64, u64>>,
    /// File WAL: something was appended (wakes the uploader).
    pub(crate) appended: Notify,
    /// File WAL: something was uploaded (wakes appends held back by back-pressure).
    pub(crate) uploaded: Notify,
    /// File WAL: a write failed or the writer was fenced; no more appends.
    pub(crate) wal_broken: AtomicBool,
    /// File WAL: someone waits for everything pending to be uploaded.
    pub(crate) flush_requested: AtomicBool,
    /// File WAL: every engine handle is gone; upload what is pending and stop.
    pub(crate) closing: AtomicBool,
    /// Names this process in the keys of the objects it writes.
    writer: String,
}

/// The storage engine. Clones share one engine.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
    wal: mpsc::Sender<Append>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Engine {
    /// Starts an engine over `store` and `meta`. `writer` names this process in object
    /// keys; it must be unique among processes sharing the bucket. With the file WAL the
    /// log is replayed first: what it holds beyond the metadata is readable when this
    /// returns, and uploaded soon after.
    pub async fn start(
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
            fetching: Mutex::new(HashMap::new()),
            settings,
            commits: watch::channel(0).0,
            cache_requests,
            compactor,
            pending: Mutex::new(Pending::default()),
            epochs: Mutex::new(BTreeMap::new()),
            appended: Notify::new(),
            uploaded: Notify::new(),
            wal_broken: AtomicBool::new(false),
            flush_requested: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            writer: writer.clone(),
        });
        let (wal, rx) = mpsc::channel(1024);
        match inner.settings.wal.unwrap_or(WalMode::Object) {
            WalMode::Object => {
                tokio::spawn(wal::run_object(inner.clone(), rx, writer));
            }
            WalMode::File => {
                let root = inner.settings.wal_dir.clone().unwrap_or_else(|| PathBuf::from("floe-data/wal"));
                let segment_bytes = inner.settings.wal_segment_bytes;
                let name = writer.clone();
                let (log, records) =
                    tokio::task::spawn_blocking(move || wal::file::Log::open(&root, &name, segment_bytes))
                        .await
                        .map_err(|e| Error::Wal(e.to_string()))??;
                let tails = wal::replay(&inner, records);
                let log = Arc::new(Mutex::new(log));
                tokio::spawn(wal::run_file(inner.clone(), rx, log.clone(), tails));
                tokio::spawn(wal::run_uploader(inner.clone(), log, writer));
            }
        }
        if !inner.settings.compaction_interval.is_zero() {
            tokio::spawn(run_compaction(Arc::downgrade(&inner)));
        }
        Ok(Engine { inner, wal })
    }

    /// Waits until everything appended so far is in objects: a no-op for the object WAL,
    /// for the file WAL an upload now rather than later. Fails if the file WAL has
    /// stopped (a failed write, or another writer took over).
    pub async fn flush(&self) -> Result<()> {
        loop {
            let uploaded = self.inner.uploaded.notified();
            if lock(&self.inner.pending).since().is_none() {
                return Ok(());
            }
            if self.inner.wal_broken.load(Ordering::Acquire) {
                return Err(Error::Wal("the file WAL stopped with appends not uploaded".into()));
            }
            self.inner.flush_requested.store(true, Ordering::Release);
            self.inner.appended.notify_one();
            uploaded.await;
        }
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
        let listed = self.inner.store.list(paths::DATA).await?;
        // This engine's own objects may be uploads in flight (the file WAL replays at
        // start), not leftovers.
        let own = paths::data_prefix(&self.inner.writer);
        let orphans: Vec<String> = {
            let state = self.inner.meta.state();
            let live = state.referenced_objects();
            listed
                .into_iter()
                .map(|m| m.key)
                .filter(|k| !live.contains(k.as_str()) && !k.starts_with(&own))
                .collect()
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

    /// Rewrites the stored batches of `stream` below offset `below` through `rewriter`
    /// (which keeps each batch's offsets, so readers see no gap and no duplicate), and
    /// swaps the changed blocks in, as compaction does. For a log cleaner keeping the
    /// latest record of each key.
    pub async fn rewrite(&self, stream: u64, below: u64, rewriter: Rewriter<'_>) -> Result<CompactionStats> {
        let inner = &self.inner;
        let release = |inputs| inner.release(inputs);
        let stats = inner
            .compactor
            .rewrite_stream(&inner.store, &inner.meta, &inner.settings, stream, below, rewriter, release)
            .await?;
        if stats.objects_written > 0 {
            // The cache holds the batches as they were appended.
            lock(&inner.log_cache).forget(stream);
        }
        Ok(stats)
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
        let committed = self.inner.meta.state().streams.get(&stream).map(|s| s.end_offset);
        if committed.is_some_and(|end| offset > end) {
            // Offsets the file WAL holds: the metadata can only trim what it references.
            self.flush().await?;
        }
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
        let pending = lock(&self.inner.pending).end(stream);
        Ok((s.start_offset, pending.map_or(s.end_offset, |p| p.max(s.end_offset))))
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
            // Not uploaded yet (file WAL), recently appended, or stored.
            let pending = lock(&self.inner.pending).read(stream, next, budget);
            let cached = pending.or_else(|| lock(&self.inner.log_cache).read(stream, next, budget));
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
        // One fetch per object at a time: readers missing on an object that is being
        // fetched wait for that fetch and then find their block in the cache.
        let gate = lock(&self.inner.fetching).entry(block.object.clone()).or_default().clone();
        let turn = gate.lock().await;
        let cached = lock(&self.inner.block_cache).get(&block.object, block.entry.position);
        let result = match cached {
            Some(bytes) => Ok(bytes),
            None => self.fetch_uncached(block).await,
        };
        drop(turn);
        let mut fetching = lock(&self.inner.fetching);
        // Only the map and this task hold the gate: nobody waits on it any more. (Others
        // take it only under the map's lock, which is held here.)
        if Arc::strong_count(&gate) == 2 {
            fetching.remove(&block.object);
        }
        result
    }

    async fn fetch_uncached(&self, block: &BlockRef) -> Result<Bytes> {
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
            // Not in any object: perhaps among the appends not uploaded yet.
            return Ok(lock(&self.inner.pending).offset_for_timestamp(stream, timestamp));
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

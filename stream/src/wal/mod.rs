//! The write path. Every append goes through one WAL task, which assigns offsets in one
//! place, checks idempotent producers, and answers an append only once it is durable.
//! Two modes share that sequencing:
//!
//! - the object WAL collects a window of appends of all streams into one object, writes
//!   it and commits its index; the WAL object is the first data object;
//! - the file WAL group-commits appends to a local log ([`file`]) and answers after the
//!   fsync; an uploader turns what is pending into objects in the background, and a
//!   restart replays the log, so what was answered is uploaded even after a crash.
//!
//! A writer claims each stream it writes (bumping the stream's epoch) before it assigns
//! offsets there, and every commit names the epochs it was made under: a writer that
//! another has taken over from is fenced and cannot commit.

pub(crate) mod file;
mod pending;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::BytesMut;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

pub(crate) use pending::{Pending, PendingAppend};

use crate::engine::{Inner, lock};
use crate::error::{Error, ErrorKind, Result};
use crate::meta::{Change, ProducerUpdate, State, StreamMeta};
use crate::object::{Batch, ObjectBuilder};
use crate::paths;
use crate::producer::{ProducerStamp, ProducerState, Verdict};

/// Which WAL makes appends durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WalMode {
    /// Appends are durable once their window's object is written and committed: no
    /// local state at all.
    Object,
    /// Appends are durable once fsync'd to a local log; objects follow in the background.
    File,
}

/// An append in the WAL's queue.
pub(crate) struct Append {
    pub(crate) stream: u64,
    pub(crate) batches: Vec<Batch>,
    pub(crate) producer: Option<ProducerStamp>,
    pub(crate) reply: oneshot::Sender<Result<u64>>,
}

impl Append {
    fn records(&self) -> u64 {
        self.batches.iter().map(|b| u64::from(b.records)).sum()
    }

    fn bytes(&self) -> usize {
        self.batches.iter().map(|b| b.payload.len()).sum()
    }
}

impl std::fmt::Debug for Append {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Append").field("stream", &self.stream).finish_non_exhaustive()
    }
}

/// Gives every waiter of a failed write an error of the same kind.
fn share(e: &Error) -> Error {
    match e.kind() {
        ErrorKind::Retriable => Error::Store(floe_backends::Error::Unavailable(e.to_string())),
        ErrorKind::Fenced => Error::Fenced(e.to_string()),
        ErrorKind::Corruption => Error::Corrupt(e.to_string()),
        ErrorKind::InvalidInput | ErrorKind::Internal => Error::Invalid(e.to_string()),
    }
}

/// Where a stream ends past its committed metadata (appends the file WAL holds), and its
/// producers' state there.
#[derive(Debug, Clone)]
pub(crate) struct Tail {
    end: u64,
    producers: BTreeMap<u64, ProducerState>,
}

impl Tail {
    fn of(meta: &StreamMeta) -> Tail {
        Tail { end: meta.end_offset, producers: BTreeMap::new() }
    }

    /// Places `records` at the end; returns the producer's update to commit with them.
    fn place(
        &mut self,
        meta: &StreamMeta,
        stream: u64,
        stamp: Option<ProducerStamp>,
        records: u64,
    ) -> Option<ProducerUpdate> {
        let base = self.end;
        self.end += records;
        let p = stamp?;
        let mut state =
            self.producers.get(&p.id).or_else(|| meta.producers.get(&p.id)).cloned().unwrap_or_default();
        state.record(p.epoch, p.first_sequence, records as u32, base);
        self.producers.insert(p.id, state);
        Some(ProducerUpdate {
            stream,
            producer: p.id,
            epoch: p.epoch,
            first_sequence: p.first_sequence,
            records: records as u32,
            base_offset: base,
        })
    }
}

/// An append with its offsets assigned.
#[derive(Debug)]
struct Placed {
    stream: u64,
    base: u64,
    append: Append,
    producer: Option<ProducerUpdate>,
}

/// A window after sequencing. Duplicates are answered only once the window is durable:
/// the append they repeat may be in this very window.
#[derive(Debug, Default)]
struct Sequenced {
    placed: Vec<Placed>,
    duplicates: Vec<(u64, Append)>,
    tails: BTreeMap<u64, Tail>,
}

impl Sequenced {
    fn fail(self, e: &Error) {
        for p in self.placed {
            let _ = p.append.reply.send(Err(share(e)));
        }
        for (_, a) in self.duplicates {
            let _ = a.reply.send(Err(share(e)));
        }
    }

    /// Answers every append, puts the new batches in the log cache, wakes long polls.
    fn succeed(self, inner: &Inner) {
        {
            let mut cache = lock(&inner.log_cache);
            for p in &self.placed {
                let mut at = p.base;
                for b in &p.append.batches {
                    cache.push(p.stream, at, b.clone());
                    at += u64::from(b.records);
                }
            }
        }
        for p in self.placed {
            let _ = p.append.reply.send(Ok(p.base));
        }
        for (base, a) in self.duplicates {
            let _ = a.reply.send(Ok(base));
        }
        inner.commits.send_modify(|n| *n += 1);
    }
}

/// Assigns offsets to a window's appends, stream by stream in arrival order, after the
/// committed state and the `tails` past it. Appends that cannot go (unknown stream, a
/// writer fenced, a producer out of sequence) are answered here.
fn sequence(
    state: &State,
    tails: &BTreeMap<u64, Tail>,
    epochs: &BTreeMap<u64, u64>,
    window: Vec<Append>,
) -> Sequenced {
    let mut by_stream: BTreeMap<u64, Vec<Append>> = BTreeMap::new();
    for append in window {
        by_stream.entry(append.stream).or_default().push(append);
    }
    let mut out = Sequenced::default();
    for (stream, appends) in by_stream {
        let meta = match state.streams.get(&stream) {
            None => {
                refuse(appends, &Error::UnknownStream(stream));
                continue;
            }
            Some(meta) if epochs.get(&stream) != Some(&meta.epoch) => {
                let e = Error::Fenced(format!("stream {stream} was taken over by another writer"));
                refuse(appends, &e);
                continue;
            }
            Some(meta) => meta,
        };
        let mut tail = tails.get(&stream).cloned().unwrap_or_else(|| Tail::of(meta));
        for append in appends {
            let records = append.records();
            if let Some(p) = append.producer {
                let current = tail.producers.get(&p.id).or_else(|| meta.producers.get(&p.id));
                match ProducerState::check(current, p, records as u32) {
                    Err(e) => {
                        let _ = append.reply.send(Err(e));
                        continue;
                    }
                    Ok(Verdict::Duplicate(base)) => {
                        out.duplicates.push((base, append));
                        continue;
                    }
                    Ok(Verdict::Append) => {}
                }
            }
            let base = tail.end;
            let producer = tail.place(meta, stream, append.producer, records);
            out.placed.push(Placed { stream, base, append, producer });
        }
        out.tails.insert(stream, tail);
    }
    out
}

fn refuse(appends: Vec<Append>, e: &Error) {
    for a in appends {
        let _ = a.reply.send(Err(share(e)));
    }
}

/// Takes over the streams of `streams` this writer has not claimed yet.
async fn claim(inner: &Inner, streams: impl IntoIterator<Item = u64>) -> Result<()> {
    let wanted: BTreeMap<u64, u64> = {
        let state = inner.meta.state();
        let mine = lock(&inner.epochs);
        streams
            .into_iter()
            .filter(|s| !mine.contains_key(s))
            .filter_map(|s| state.streams.get(&s).map(|m| (s, m.epoch + 1)))
            .collect()
    };
    if wanted.is_empty() {
        return Ok(());
    }
    inner.meta.commit(Change::ClaimStreams { epochs: wanted.clone() }).await?;
    lock(&inner.epochs).extend(wanted);
    Ok(())
}

/// Collects one window: the first append, then whatever else arrives until `deadline`
/// or until the window holds `max_bytes`.
async fn window(
    rx: &mut mpsc::Receiver<Append>,
    first: Append,
    deadline: tokio::time::Instant,
    max_bytes: usize,
) -> Vec<Append> {
    let mut bytes = first.bytes();
    let mut window = vec![first];
    while bytes < max_bytes {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(append)) => {
                bytes += append.bytes();
                window.push(append);
            }
            Ok(None) | Err(_) => break,
        }
    }
    window
}

/// Data objects this writer has written, for their keys.
#[derive(Debug)]
struct Keys {
    writer: String,
    n: u64,
}

impl Keys {
    fn next(&mut self) -> String {
        self.n += 1;
        paths::data_object(&self.writer, self.n)
    }
}

/// Writes `blocks` (per stream: the base offset and batches) as one object and commits
/// it with the producers' updates, under this writer's epochs.
async fn write_object(
    inner: &Inner,
    key: &str,
    blocks: Vec<(u64, u64, Vec<Batch>)>,
    producers: Vec<ProducerUpdate>,
) -> Result<()> {
    let mut builder = ObjectBuilder::new();
    let epochs: BTreeMap<u64, u64> = {
        let mine = lock(&inner.epochs);
        blocks.iter().filter_map(|(s, _, _)| mine.get(s).map(|e| (*s, *e))).collect()
    };
    for (stream, base, batches) in &blocks {
        builder.add_block(*stream, *base, batches);
    }
    let (object, blocks) = builder.finish();
    let object_size = object.len() as u64;
    inner.store.put(key, object).await?;
    inner
        .meta
        .commit(Change::CommitObject { object: key.to_string(), object_size, blocks, producers, epochs })
        .await
}

/// The object WAL: one object and one metadata commit per window.
pub(crate) async fn run_object(inner: Arc<Inner>, mut rx: mpsc::Receiver<Append>, writer: String) {
    let mut keys = Keys { writer, n: 0 };
    while let Some(first) = rx.recv().await {
        let deadline = tokio::time::Instant::now() + inner.settings.wal_window;
        let window = window(&mut rx, first, deadline, inner.settings.wal_window_bytes).await;
        let key = keys.next();
        flush_object(&inner, window, &key).await;
    }
}

async fn flush_object(inner: &Inner, window: Vec<Append>, key: &str) {
    let streams: BTreeSet<u64> = window.iter().map(|a| a.stream).collect();
    // The sync first: a commit whose answer was lost must not have its offsets reused.
    if let Err(e) = async {
        inner.meta.sync().await?;
        claim(inner, streams).await
    }
    .await
    {
        tracing::warn!(error = %e, "metadata not in sync; failing the WAL window");
        refuse(window, &e);
        return;
    }
    let sequenced = {
        let state = inner.meta.state();
        let epochs = lock(&inner.epochs).clone();
        sequence(&state, &BTreeMap::new(), &epochs, window)
    };
    if sequenced.placed.is_empty() {
        // Nothing new: only duplicates of appends already committed.
        sequenced.succeed(inner);
        return;
    }
    let mut blocks: Vec<(u64, u64, Vec<Batch>)> = Vec::new();
    for p in &sequenced.placed {
        match blocks.last_mut() {
            Some((stream, _, batches)) if *stream == p.stream => {
                batches.extend(p.append.batches.iter().cloned())
            }
            _ => blocks.push((p.stream, p.base, p.append.batches.clone())),
        }
    }
    let producers = sequenced.placed.iter().filter_map(|p| p.producer).collect();
    match write_object(inner, key, blocks, producers).await {
        Ok(()) => sequenced.succeed(inner),
        Err(e) => {
            tracing::warn!(object = key, error = %e, "WAL window failed; its appends are not acknowledged");
            sequenced.fail(&e);
        }
    }
}

/// The file WAL: group commits to the local log, answered after the fsync. `tails`
/// holds what the replayed log added past the committed state.
pub(crate) async fn run_file(
    inner: Arc<Inner>,
    mut rx: mpsc::Receiver<Append>,
    log: Arc<std::sync::Mutex<file::Log>>,
    mut tails: BTreeMap<u64, Tail>,
) {
    while let Some(first) = rx.recv().await {
        // No waiting for a window: while one group is being fsync'd the next gathers.
        let now = tokio::time::Instant::now();
        let window = window(&mut rx, first, now, inner.settings.wal_window_bytes).await;
        // Memory and local disk are not endless: wait for the uploader to catch up.
        loop {
            let uploaded = inner.uploaded.notified();
            if lock(&inner.pending).bytes() <= inner.settings.wal_max_pending_bytes {
                break;
            }
            uploaded.await;
        }
        let streams: BTreeSet<u64> = window.iter().map(|a| a.stream).collect();
        if let Err(e) = claim(&inner, streams).await {
            tracing::warn!(error = %e, "could not claim streams; failing the WAL group");
            refuse(window, &e);
            continue;
        }
        let sequenced = {
            let state = inner.meta.state();
            let pending = lock(&inner.pending);
            // Tails of streams with nothing pending are in the committed state now.
            tails.retain(|s, _| pending.end(*s).is_some());
            let epochs = lock(&inner.epochs).clone();
            sequence(&state, &tails, &epochs, window)
        };
        let mut buf = BytesMut::new();
        for p in &sequenced.placed {
            let record = file::Record {
                stream: p.stream,
                base: p.base,
                producer: p.append.producer,
                batches: p.append.batches.clone(),
            };
            file::encode(&mut buf, &record);
        }
        if inner.wal_broken.load(Ordering::Acquire) {
            sequenced.fail(&Error::Wal("the file WAL failed earlier; restart the broker".into()));
            continue;
        }
        let segment = if buf.is_empty() {
            None
        } else {
            let log = log.clone();
            let written = tokio::task::spawn_blocking(move || lock(&log).append(&buf))
                .await
                .map_err(|e| Error::Wal(format!("WAL writer task failed: {e}")))
                .and_then(|r| r);
            match written {
                Ok(segment) => Some(segment),
                Err(e) => {
                    // After a failed write or fsync the file's contents are unknown: writing
                    // on could bury acknowledged records behind a torn one.
                    tracing::error!(error = %e, "file WAL write failed; refusing appends until a restart");
                    inner.wal_broken.store(true, Ordering::Release);
                    sequenced.fail(&e);
                    continue;
                }
            }
        };
        if let Some(segment) = segment {
            let mut pending = lock(&inner.pending);
            for p in &sequenced.placed {
                let append = PendingAppend {
                    base: p.base,
                    batches: p.append.batches.clone(),
                    producer: p.producer,
                    segment,
                };
                pending.push(p.stream, append);
            }
        }
        tails.extend(sequenced.tails.iter().map(|(s, t)| (*s, t.clone())));
        inner.appended.notify_one();
        sequenced.succeed(&inner);
    }
    // Every handle is gone: let the uploader finish what is pending, then stop.
    inner.closing.store(true, Ordering::Release);
    inner.appended.notify_one();
}

/// Replays the log's records into the pending set: those the metadata does not hold yet.
/// Returns the tails they make.
pub(crate) fn replay(inner: &Inner, records: Vec<(u64, file::Record)>) -> Result<BTreeMap<u64, Tail>> {
    let state = inner.meta.state();
    let mut pending = lock(&inner.pending);
    let mut tails: BTreeMap<u64, Tail> = BTreeMap::new();
    let mut replayed = 0usize;
    for (segment, r) in records {
        let Some(meta) = state.streams.get(&r.stream) else { continue };
        let records: u64 = r.batches.iter().map(|b| u64::from(b.records)).sum();
        if r.base + records <= meta.end_offset {
            continue; // uploaded before the restart
        }
        let tail = tails.entry(r.stream).or_insert_with(|| Tail::of(meta));
        if r.base != tail.end {
            return Err(Error::Corrupt(format!(
                "file WAL record of stream {} starts at {} but the stream ends at {}",
                r.stream, r.base, tail.end
            )));
        }
        let producer = tail.place(meta, r.stream, r.producer, records);
        pending.push(r.stream, PendingAppend { base: r.base, batches: r.batches, producer, segment });
        replayed += 1;
    }
    if replayed > 0 {
        tracing::info!(records = replayed, bytes = pending.bytes(), "replayed the file WAL; uploading it");
    }
    Ok(tails)
}

/// Uploads what the file WAL holds: once `upload_bytes` are pending, or once the oldest
/// pending append has waited `upload_interval`. Failed uploads are tried again, after a
/// growing pause; the appends stay readable and durable meanwhile.
pub(crate) async fn run_uploader(inner: Arc<Inner>, log: Arc<std::sync::Mutex<file::Log>>, writer: String) {
    let mut keys = Keys { writer, n: 0 };
    let mut pause = Duration::from_millis(50);
    loop {
        let appended = inner.appended.notified();
        let (bytes, since) = {
            let p = lock(&inner.pending);
            (p.bytes(), p.since())
        };
        let closing = inner.closing.load(Ordering::Acquire);
        let Some(since) = since else {
            if closing {
                return;
            }
            appended.await;
            continue;
        };
        let due = since + inner.settings.wal_upload_interval;
        let urgent = closing || inner.flush_requested.swap(false, Ordering::AcqRel);
        if !urgent && bytes < inner.settings.wal_upload_bytes && due > tokio::time::Instant::now() {
            tokio::select! {
                () = appended => {}
                () = tokio::time::sleep_until(due) => {}
            }
            continue;
        }
        let key = keys.next();
        let result = upload(&inner, &key).await;
        match result {
            Ok(()) => {
                pause = Duration::from_millis(50);
                let keep = {
                    let segment = lock(&log).segment();
                    lock(&inner.pending).oldest_segment().unwrap_or(segment)
                };
                let log = log.clone();
                let _ = tokio::task::spawn_blocking(move || lock(&log).delete_below(keep)).await;
            }
            Err(e) if e.kind() == ErrorKind::Fenced => {
                tracing::error!(error = %e, "another writer took over; the file WAL stops");
                inner.wal_broken.store(true, Ordering::Release);
                inner.uploaded.notify_waiters();
                return;
            }
            Err(e) => {
                tracing::warn!(object = key, error = %e, ?pause, "file WAL upload failed; will retry");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
        inner.uploaded.notify_waiters();
    }
}

async fn upload(inner: &Inner, key: &str) -> Result<()> {
    // A commit whose answer was lost may have landed: find out before uploading again.
    inner.meta.sync().await?;
    let taken = {
        let state = inner.meta.state();
        let mut pending = lock(&inner.pending);
        pending.drop_committed(&state);
        pending.take(inner.settings.wal_upload_bytes)
    };
    if taken.is_empty() {
        return Ok(());
    }
    claim(inner, taken.iter().map(|(s, _)| *s)).await?;
    let mut blocks = Vec::with_capacity(taken.len());
    let mut producers = Vec::new();
    for (stream, appends) in taken {
        let base = appends.first().map_or(0, |a| a.base);
        producers.extend(appends.iter().filter_map(|a| a.producer));
        blocks.push((stream, base, appends.into_iter().flat_map(|a| a.batches).collect()));
    }
    write_object(inner, key, blocks, producers).await?;
    let state = inner.meta.state();
    lock(&inner.pending).drop_committed(&state);
    Ok(())
}

//! The embedded metadata store: a log of changes in the data bucket, one object per
//! entry, each written with create-if-absent so two writers can never both append the
//! same entry. Snapshots every `snapshot_every` entries keep start-up short; the log
//! entries a snapshot covers are deleted afterwards, but only after a grace period: a
//! slot that is free again could be taken by a stale writer (one that has not seen the
//! newer entries), whose create-if-absent would then succeed where it must fail.

use std::sync::{Arc, RwLock, RwLockReadGuard};

use async_trait::async_trait;
use bytes::Bytes;
use floe_backends::ObjectStore;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::{Change, MetaStore, State};
use crate::error::{Error, Result};
use crate::paths;

/// How long covered log entries outlive the snapshot that covers them.
const GC_GRACE: std::time::Duration = std::time::Duration::from_secs(600);

#[derive(Debug, Serialize, Deserialize)]
struct LogEntry {
    seq: u64,
    writer: String,
    change: Change,
}

#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    seq: u64,
    state: State,
}

#[derive(Debug)]
struct Cursor {
    /// Sequence number the next entry gets.
    next_seq: u64,
    /// Sequence number of the latest snapshot (0: none).
    snapshot_seq: u64,
    /// An entry whose write may or may not have landed (its answer was an error).
    uncertain: Option<(u64, Bytes)>,
}

/// The metadata log, kept in the same bucket as the data.
#[derive(Debug)]
pub struct EmbeddedMeta {
    store: Arc<dyn ObjectStore>,
    writer: String,
    snapshot_every: u64,
    gc_grace: std::time::Duration,
    state: RwLock<State>,
    cursor: Mutex<Cursor>,
}

/// Reads objects concurrently, a bounded number at a time, keeping their order.
pub(crate) async fn get_all(store: &Arc<dyn ObjectStore>, keys: Vec<String>) -> Result<Vec<Bytes>> {
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(32) {
        let mut tasks = Vec::with_capacity(chunk.len());
        for key in chunk {
            let store = store.clone();
            let key = key.clone();
            tasks.push(tokio::spawn(async move { store.get(&key).await }));
        }
        for task in tasks {
            out.push(task.await.map_err(|e| Error::Invalid(e.to_string()))??);
        }
    }
    Ok(out)
}

/// Deletes `keys` once `grace` has passed (see the module's note on stale writers).
fn collect_after(store: Arc<dyn ObjectStore>, grace: std::time::Duration, keys: Vec<String>) {
    if keys.is_empty() {
        return;
    }
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        for key in keys {
            if let Err(e) = store.delete(&key).await {
                tracing::debug!(key, error = %e, "could not delete covered metadata; harmless");
            }
        }
    });
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt(format!("{what}: {e}")))
}

impl EmbeddedMeta {
    /// Loads the latest snapshot and replays the log after it. `writer` names this
    /// process in the entries it writes.
    ///
    /// A writer that dies in the middle of a write can leave a torn object on stores
    /// whose writes are not atomic (a local directory). Such a write never completed,
    /// so nothing acknowledged depends on it: a torn newest snapshot is skipped for the
    /// one before, and a torn last log entry is cut. Anything torn earlier in the log
    /// is corruption and stops the start.
    pub async fn open(store: Arc<dyn ObjectStore>, writer: String, snapshot_every: u64) -> Result<Self> {
        let mut snapshot_seqs: Vec<u64> =
            store.list(paths::META_SNAPSHOTS).await?.iter().filter_map(|m| paths::seq_of(&m.key)).collect();
        snapshot_seqs.sort_unstable();
        let (mut state, snapshot_seq) = loop {
            let Some(seq) = snapshot_seqs.pop() else { break (State::default(), 0) };
            let key = paths::meta_snapshot(seq);
            match decode::<Snapshot>("snapshot", &store.get(&key).await?) {
                Ok(snap) => break (snap.state, snap.seq),
                Err(e) => {
                    tracing::warn!(key, error = %e, "torn metadata snapshot (a write cut short); using the one before");
                    store.delete(&key).await?;
                }
            }
        };
        let logged: Vec<u64> =
            store.list(paths::META_LOG).await?.iter().filter_map(|m| paths::seq_of(&m.key)).collect();
        let (mut seqs, covered): (Vec<u64>, Vec<u64>) = logged.into_iter().partition(|s| *s > snapshot_seq);
        seqs.sort_unstable();
        // What an earlier process's snapshots covered but it did not live to delete.
        let mut doomed: Vec<String> = covered.into_iter().map(paths::meta_log).collect();
        doomed.extend(snapshot_seqs.iter().map(|s| paths::meta_snapshot(*s)));
        collect_after(store.clone(), GC_GRACE, doomed);
        let mut next_seq = snapshot_seq + 1;
        for seq in &seqs {
            if *seq != next_seq {
                return Err(Error::Corrupt(format!("metadata log jumps from {} to {seq}", next_seq - 1)));
            }
            next_seq += 1;
        }
        let bodies = get_all(&store, seqs.iter().map(|s| paths::meta_log(*s)).collect()).await?;
        let last = bodies.len().saturating_sub(1);
        for (i, body) in bodies.iter().enumerate() {
            match decode::<LogEntry>("log entry", body) {
                Ok(entry) => state.apply(&entry.change),
                Err(e) if i == last => {
                    let key = paths::meta_log(seqs[i]);
                    tracing::warn!(key, error = %e, "torn last metadata log entry (a write cut short); cutting it");
                    store.delete(&key).await?;
                    next_seq -= 1;
                }
                Err(e) => return Err(e),
            }
        }
        tracing::info!(snapshot_seq, replayed = bodies.len(), topics = state.topics.len(), "metadata loaded");
        Ok(EmbeddedMeta {
            store,
            writer,
            snapshot_every: snapshot_every.max(1),
            gc_grace: GC_GRACE,
            state: RwLock::new(state),
            cursor: Mutex::new(Cursor { next_seq, snapshot_seq, uncertain: None }),
        })
    }

    /// Sets how long covered log entries are kept (default ten minutes).
    pub fn with_gc_grace(mut self, grace: std::time::Duration) -> Self {
        self.gc_grace = grace;
        self
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Finds out whether an entry whose answer was lost did land; if it did, applies it.
    async fn resolve_uncertain(&self, cursor: &mut Cursor) -> Result<()> {
        let Some((seq, body)) = cursor.uncertain.clone() else {
            return Ok(());
        };
        match self.store.get(&paths::meta_log(seq)).await {
            Err(floe_backends::Error::NotFound(_)) => {}
            Ok(found) if found == body => {
                let entry: LogEntry = decode("log entry", &body)?;
                self.write_state().apply(&entry.change);
                cursor.next_seq = seq + 1;
                tracing::warn!(seq, "a metadata commit reported as failed had landed; applied it");
            }
            Ok(_) => {
                return Err(Error::Fenced(format!("metadata log entry {seq} was written by another writer")));
            }
            Err(e) => return Err(e.into()),
        }
        cursor.uncertain = None;
        Ok(())
    }

    async fn snapshot(&self, cursor: &mut Cursor) {
        let seq = cursor.next_seq - 1;
        let body = {
            let state = self.state();
            serde_json::to_vec(&Snapshot { seq, state: state.clone() })
        };
        let Ok(body) = body else { return };
        if let Err(e) = self.store.put(&paths::meta_snapshot(seq), Bytes::from(body)).await {
            tracing::warn!(error = %e, "metadata snapshot failed; will try again later");
            return;
        }
        let previous = cursor.snapshot_seq;
        cursor.snapshot_seq = seq;
        // The snapshot covers everything up to seq: older entries are dead weight.
        let mut doomed: Vec<String> = (previous + 1..=seq).map(paths::meta_log).collect();
        if previous > 0 {
            doomed.push(paths::meta_snapshot(previous));
        }
        collect_after(self.store.clone(), self.gc_grace, doomed);
    }
}

#[async_trait]
impl MetaStore for EmbeddedMeta {
    async fn commit(&self, change: Change) -> Result<()> {
        let mut cursor = self.cursor.lock().await;
        self.resolve_uncertain(&mut cursor).await?;
        self.state().check(&change)?;
        let seq = cursor.next_seq;
        let entry = LogEntry { seq, writer: self.writer.clone(), change };
        let body = Bytes::from(serde_json::to_vec(&entry).map_err(|e| Error::Invalid(e.to_string()))?);
        match self.store.put_if_absent(&paths::meta_log(seq), body.clone()).await {
            Ok(()) => {}
            Err(floe_backends::Error::AlreadyExists(_)) => {
                // Either our own earlier attempt landed (its answer was lost inside the
                // retry loop) or another writer took this entry.
                let found = self.store.get(&paths::meta_log(seq)).await?;
                if found != body {
                    return Err(Error::Fenced(format!(
                        "metadata log entry {seq} was written by another writer"
                    )));
                }
            }
            Err(e) if e.is_retriable() => {
                cursor.uncertain = Some((seq, body));
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        }
        self.write_state().apply(&entry.change);
        cursor.next_seq = seq + 1;
        if seq - cursor.snapshot_seq >= self.snapshot_every {
            self.snapshot(&mut cursor).await;
        }
        Ok(())
    }

    async fn sync(&self) -> Result<()> {
        let mut cursor = self.cursor.lock().await;
        self.resolve_uncertain(&mut cursor).await
    }

    fn state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

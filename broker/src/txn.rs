//! The transaction coordinator: maps each transactional id to a producer id and epoch,
//! tracks which partitions and groups its open transaction touched, and ends it by
//! writing commit or abort markers into every partition. It also keeps, per partition,
//! what read_committed consumers need: the first offset of each open transaction (the
//! last stable offset) and the aborted transactions.
//!
//! Every state change is first appended, as the whole state of that transactional id, to
//! the internal stream [`TXN_TOPIC`] and only then applied in memory; start-up replays
//! the stream, so the per-partition index is rebuilt from the same records. Ending a
//! transaction logs `Prepare*` before the markers and `Complete*` after them: a crash in
//! between is finished at the next start, before the broker serves (markers may then be
//! written twice, which consumers ignore). Data-partition state never needs a scan.
//!
//! Not here: the idempotence checks of each append (the engine), fetch itself.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use floe_stream::{Engine, ProducerStamp};
use kafka_protocol::ResponseError;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::group::{self, Committed};
use crate::{batch, internal, now_ms};

/// Name of the internal topic holding transaction state. Not a legal Kafka topic name,
/// so no client can reach it.
pub(crate) const TXN_TOPIC: &str = "floe:transactions";

/// Longest transaction timeout accepted (Kafka's `transaction.max.timeout.ms` default).
const MAX_TIMEOUT_MS: i32 = 900_000;

/// How often expired transactions are looked for.
const EXPIRY_CHECK: Duration = Duration::from_millis(500);

/// Where a transaction is; named as Kafka names them in ListTransactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
}

impl TxnState {
    pub(crate) fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
        }
    }

    /// Whether its records may still be committed or aborted, holding back the LSO.
    fn open(self) -> bool {
        matches!(self, TxnState::Ongoing | TxnState::PrepareCommit | TxnState::PrepareAbort)
    }
}

/// A partition in a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TxnPartition {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) stream: u64,
    /// The stream's end when the partition joined the transaction: no record of the
    /// transaction can be below it. Used as the transaction's first offset, which makes
    /// the LSO at most a few records more conservative than Kafka's.
    pub(crate) first_offset: u64,
    /// Offset of the marker that ended the transaction here.
    #[serde(default)]
    pub(crate) marker: Option<u64>,
}

/// An offset committed inside a transaction, visible to the group only once it commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PendingOffset {
    pub(crate) group: String,
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) committed: Committed,
}

/// The whole state of one transactional id: each record of the stream is one of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Txn {
    pub(crate) id: String,
    pub(crate) producer_id: u64,
    pub(crate) epoch: i16,
    pub(crate) timeout_ms: i32,
    pub(crate) state: TxnState,
    pub(crate) partitions: Vec<TxnPartition>,
    pub(crate) groups: Vec<String>,
    pub(crate) offsets: Vec<PendingOffset>,
    /// Wall-clock start of the current transaction, for DescribeTransactions.
    pub(crate) started_ms: i64,
}

/// An aborted transaction's span in one partition, for read_committed fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Aborted {
    pub(crate) producer_id: u64,
    pub(crate) first_offset: u64,
    pub(crate) last_offset: u64,
}

#[derive(Debug, Default)]
struct PartitionTxns {
    /// First offset of each open transaction, by producer id.
    open: BTreeMap<u64, u64>,
    /// Aborted transactions, in the order their markers were written.
    aborted: Vec<Aborted>,
}

/// The in-memory state, rebuilt from the stream at start.
#[derive(Debug, Default)]
struct Index {
    txns: HashMap<String, Txn>,
    by_producer: HashMap<u64, String>,
    partitions: HashMap<u64, PartitionTxns>,
    /// When each ongoing transaction times out; counted from when it began in this
    /// process, so a restart gives open transactions their whole timeout again.
    deadlines: HashMap<String, Instant>,
}

impl Index {
    fn apply(&mut self, txn: Txn) {
        if let Some(old) = self.txns.get(&txn.id) {
            if old.state.open() {
                for p in &old.partitions {
                    if let Some(pt) = self.partitions.get_mut(&p.stream) {
                        pt.open.remove(&old.producer_id);
                    }
                }
            }
            if old.producer_id != txn.producer_id {
                self.by_producer.remove(&old.producer_id);
            }
        }
        if txn.state.open() {
            for p in &txn.partitions {
                self.partitions.entry(p.stream).or_default().open.insert(txn.producer_id, p.first_offset);
            }
        }
        if txn.state == TxnState::CompleteAbort {
            for p in &txn.partitions {
                if let Some(last_offset) = p.marker {
                    self.partitions.entry(p.stream).or_default().aborted.push(Aborted {
                        producer_id: txn.producer_id,
                        first_offset: p.first_offset,
                        last_offset,
                    });
                }
            }
        }
        if txn.state == TxnState::Ongoing {
            let timeout = Duration::from_millis(u64::try_from(txn.timeout_ms).unwrap_or(0));
            self.deadlines.entry(txn.id.clone()).or_insert_with(|| Instant::now() + timeout);
        } else {
            self.deadlines.remove(&txn.id);
        }
        self.by_producer.insert(txn.producer_id, txn.id.clone());
        self.txns.insert(txn.id.clone(), txn);
    }
}

/// The coordinator for every transactional id.
#[derive(Debug)]
pub(crate) struct Coordinator {
    engine: Engine,
    groups: Arc<group::Coordinator>,
    stream: u64,
    index: Mutex<Index>,
    /// One lock per transactional id: its changes take several appends, in order.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Bumped whenever the index changes, so long polls of read_committed fetches wake.
    changes: watch::Sender<u64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The store failed under a transaction change: the client retries, as after a
/// coordinator move.
fn unavailable(e: &floe_stream::Error) -> ResponseError {
    tracing::warn!(error = %e, "transaction state not written");
    ResponseError::CoordinatorNotAvailable
}

/// Who a transactional request says it is: checked against the current state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caller {
    pub(crate) producer_id: i64,
    pub(crate) epoch: i16,
    /// What a stale epoch gets: PRODUCER_FENCED from the versions that know it (KIP-588),
    /// INVALID_PRODUCER_EPOCH before.
    pub(crate) fenced: ResponseError,
}

impl Coordinator {
    /// Opens the transaction stream (creating it on first start), replays it, and
    /// finishes transactions a crash left half-ended.
    pub(crate) async fn start(
        engine: Engine,
        groups: Arc<group::Coordinator>,
    ) -> floe_stream::Result<Arc<Coordinator>> {
        let stream = internal::stream(&engine, TXN_TOPIC).await?;
        let mut index = Index::default();
        internal::replay::<Txn>(&engine, stream, |txn| index.apply(txn)).await?;
        let unfinished: Vec<Txn> = index
            .txns
            .values()
            .filter(|t| matches!(t.state, TxnState::PrepareCommit | TxnState::PrepareAbort))
            .cloned()
            .collect();
        tracing::info!(
            transactional_ids = index.txns.len(),
            unfinished = unfinished.len(),
            "transactions loaded"
        );
        let coordinator = Arc::new(Coordinator {
            engine,
            groups,
            stream,
            index: Mutex::new(index),
            locks: Mutex::new(HashMap::new()),
            changes: watch::channel(0).0,
        });
        for txn in unfinished {
            let commit = txn.state == TxnState::PrepareCommit;
            coordinator.complete(txn, commit).await?;
        }
        tokio::spawn(expire(Arc::downgrade(&coordinator)));
        Ok(coordinator)
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        lock(&self.index)
    }

    async fn lock_id(&self, id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = lock(&self.locks).entry(id.to_string()).or_default().clone();
        m.lock_owned().await
    }

    /// A receiver that changes whenever transaction state does.
    pub(crate) fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Makes a new state durable, then current.
    async fn persist(&self, txn: Txn) -> floe_stream::Result<()> {
        internal::append(&self.engine, self.stream, &txn).await?;
        self.index().apply(txn);
        self.changes.send_modify(|n| *n += 1);
        Ok(())
    }

    /// The state of `id`, if the caller is its current producer.
    fn current(&self, id: &str, caller: Caller) -> Result<Txn, ResponseError> {
        let index = self.index();
        let txn = index.txns.get(id).ok_or(ResponseError::InvalidProducerIdMapping)?;
        if u64::try_from(caller.producer_id).ok() != Some(txn.producer_id) {
            return Err(ResponseError::InvalidProducerIdMapping);
        }
        if caller.epoch != txn.epoch {
            return Err(caller.fenced);
        }
        Ok(txn.clone())
    }

    /// InitProducerId with a transactional id: the id's producer id with a newer epoch,
    /// which fences every older producer of it; an open transaction is aborted first.
    pub(crate) async fn init_producer(
        &self,
        id: &str,
        timeout_ms: i32,
        caller: Caller,
    ) -> Result<(u64, i16), ResponseError> {
        if id.is_empty() {
            return Err(ResponseError::InvalidRequest);
        }
        if timeout_ms <= 0 || timeout_ms > MAX_TIMEOUT_MS {
            return Err(ResponseError::InvalidTransactionTimeout);
        }
        let _guard = self.lock_id(id).await;
        let existing = self.index().txns.get(id).cloned();
        let mut txn = match existing {
            None => {
                let pid = self.engine.allocate_producer_id().await.map_err(|e| unavailable(&e))?;
                Txn {
                    id: id.to_string(),
                    producer_id: pid,
                    epoch: -1,
                    timeout_ms,
                    state: TxnState::Empty,
                    partitions: Vec::new(),
                    groups: Vec::new(),
                    offsets: Vec::new(),
                    started_ms: -1,
                }
            }
            Some(txn) => {
                // KIP-360: a producer that names its id and epoch must be the current one.
                if caller.producer_id >= 0
                    && (u64::try_from(caller.producer_id).ok() != Some(txn.producer_id)
                        || caller.epoch != txn.epoch)
                {
                    return Err(caller.fenced);
                }
                match txn.state {
                    TxnState::Ongoing => self.fence_and_abort(txn).await?,
                    TxnState::PrepareCommit | TxnState::PrepareAbort => {
                        return Err(ResponseError::ConcurrentTransactions);
                    }
                    _ => txn,
                }
            }
        };
        match txn.epoch.checked_add(1).filter(|e| *e < i16::MAX) {
            Some(epoch) => txn.epoch = epoch,
            None => {
                // epochs exhausted: a fresh producer id starts over
                txn.producer_id = self.engine.allocate_producer_id().await.map_err(|e| unavailable(&e))?;
                txn.epoch = 0;
            }
        }
        txn.timeout_ms = timeout_ms;
        txn.state = TxnState::Empty;
        txn.partitions.clear();
        txn.groups.clear();
        txn.offsets.clear();
        let answer = (txn.producer_id, txn.epoch);
        self.persist(txn).await.map_err(|e| unavailable(&e))?;
        Ok(answer)
    }

    /// Starts a transaction if none is open; refuses one that is ending.
    fn begin(txn: &mut Txn) -> Result<(), ResponseError> {
        match txn.state {
            TxnState::Ongoing => Ok(()),
            TxnState::PrepareCommit | TxnState::PrepareAbort => Err(ResponseError::ConcurrentTransactions),
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                txn.state = TxnState::Ongoing;
                txn.partitions.clear();
                txn.groups.clear();
                txn.offsets.clear();
                txn.started_ms = now_ms();
                Ok(())
            }
        }
    }

    /// AddPartitionsToTxn: `partitions` are (topic, partition, stream).
    pub(crate) async fn add_partitions(
        &self,
        id: &str,
        caller: Caller,
        partitions: Vec<(String, i32, u64)>,
    ) -> Result<(), ResponseError> {
        let _guard = self.lock_id(id).await;
        let mut txn = self.current(id, caller)?;
        Self::begin(&mut txn)?;
        let before = txn.clone();
        for (topic, partition, stream) in partitions {
            if txn.partitions.iter().any(|p| p.stream == stream) {
                continue;
            }
            let (_, end) = self.engine.bounds(stream).map_err(|_| ResponseError::UnknownTopicOrPartition)?;
            txn.partitions.push(TxnPartition { topic, partition, stream, first_offset: end, marker: None });
        }
        if txn == before {
            return Ok(());
        }
        self.persist(txn).await.map_err(|e| unavailable(&e))
    }

    /// AddOffsetsToTxn: the group's offsets may be committed in this transaction.
    pub(crate) async fn add_offsets(
        &self,
        id: &str,
        caller: Caller,
        group: &str,
    ) -> Result<(), ResponseError> {
        let _guard = self.lock_id(id).await;
        let mut txn = self.current(id, caller)?;
        Self::begin(&mut txn)?;
        if txn.state == TxnState::Ongoing && txn.groups.iter().any(|g| g == group) {
            return Ok(());
        }
        txn.groups.push(group.to_string());
        self.persist(txn).await.map_err(|e| unavailable(&e))
    }

    /// TxnOffsetCommit: offsets held with the transaction until it ends.
    pub(crate) async fn commit_offsets(
        &self,
        id: &str,
        caller: Caller,
        group: &str,
        offsets: Vec<(String, i32, Committed)>,
    ) -> Result<(), ResponseError> {
        let _guard = self.lock_id(id).await;
        let mut txn = self.current(id, caller)?;
        if txn.state != TxnState::Ongoing || !txn.groups.iter().any(|g| g == group) {
            return Err(ResponseError::InvalidTxnState);
        }
        for (topic, partition, committed) in offsets {
            txn.offsets.retain(|o| !(o.group == group && o.topic == topic && o.partition == partition));
            txn.offsets.push(PendingOffset { group: group.to_string(), topic, partition, committed });
        }
        self.persist(txn).await.map_err(|e| unavailable(&e))
    }

    /// EndTxn: commits or aborts the open transaction. A retry of an ending that was
    /// interrupted carries it on.
    pub(crate) async fn end(&self, id: &str, caller: Caller, commit: bool) -> Result<(), ResponseError> {
        let _guard = self.lock_id(id).await;
        let txn = self.current(id, caller)?;
        match (txn.state, commit) {
            (TxnState::Ongoing, _) => {
                let mut prepared = txn;
                prepared.state = if commit { TxnState::PrepareCommit } else { TxnState::PrepareAbort };
                self.persist(prepared.clone()).await.map_err(|e| unavailable(&e))?;
                self.complete(prepared, commit).await.map(|_| ()).map_err(|e| unavailable(&e))
            }
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                self.complete(txn, commit).await.map(|_| ()).map_err(|e| unavailable(&e))
            }
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => Ok(()),
            _ => Err(ResponseError::InvalidTxnState),
        }
    }

    /// Aborts an open transaction under a bumped epoch, so that the producer that
    /// opened it is fenced everywhere: here, and in each partition by the markers.
    async fn fence_and_abort(&self, mut txn: Txn) -> Result<Txn, ResponseError> {
        txn.epoch = txn.epoch.checked_add(1).ok_or(ResponseError::ProducerFenced)?;
        txn.state = TxnState::PrepareAbort;
        self.persist(txn.clone()).await.map_err(|e| unavailable(&e))?;
        self.complete(txn, false).await.map_err(|e| unavailable(&e))
    }

    /// Writes the markers, publishes committed offsets, and logs the transaction
    /// complete. Callers have logged it prepared.
    async fn complete(&self, mut txn: Txn, commit: bool) -> floe_stream::Result<Txn> {
        let now = now_ms();
        let stamp = ProducerStamp { id: txn.producer_id, epoch: txn.epoch, first_sequence: -1 };
        let marker = batch::marker(txn.producer_id, txn.epoch, commit, now)
            .map_err(|e| floe_stream::Error::Invalid(format!("marker: {e:?}")))?;
        let mut submitted = Vec::with_capacity(txn.partitions.len());
        for p in &txn.partitions {
            submitted.push(self.engine.submit(p.stream, vec![marker.clone()], Some(stamp)).await);
        }
        for (p, s) in txn.partitions.iter_mut().zip(submitted) {
            p.marker = match s {
                Ok(s) => match s.durable().await {
                    Ok(offset) => Some(offset),
                    Err(floe_stream::Error::UnknownStream(_)) => None,
                    Err(e) => return Err(e),
                },
                // the topic was deleted: nothing left to mark
                Err(floe_stream::Error::UnknownStream(_)) => None,
                Err(e) => return Err(e),
            };
        }
        if commit {
            let mut by_group: BTreeMap<String, Vec<(String, i32, Option<Committed>)>> = BTreeMap::new();
            for o in txn.offsets.drain(..) {
                by_group.entry(o.group).or_default().push((o.topic, o.partition, Some(o.committed)));
            }
            for (group, offsets) in by_group {
                self.groups.commit(&group, offsets, false).await?;
            }
        }
        txn.offsets.clear();
        txn.state = if commit { TxnState::CompleteCommit } else { TxnState::CompleteAbort };
        self.persist(txn.clone()).await?;
        tracing::debug!(id = txn.id, producer = txn.producer_id, commit, "transaction ended");
        Ok(txn)
    }

    /// Aborts transactions open longer than their timeout, bumping their epoch as Kafka
    /// does, so that the stalled producer learns it was fenced; and finishes endings that
    /// the store interrupted and no producer retried, so the LSO moves on.
    async fn abort_expired(&self) {
        let now = Instant::now();
        let due: Vec<String> = {
            let index = self.index();
            let expired = index.deadlines.iter().filter(|(_, d)| **d <= now).map(|(id, _)| id.clone());
            let stuck = index
                .txns
                .values()
                .filter(|t| matches!(t.state, TxnState::PrepareCommit | TxnState::PrepareAbort))
                .map(|t| t.id.clone());
            expired.chain(stuck).collect()
        };
        for id in due {
            let _guard = self.lock_id(&id).await;
            // Looked at again under the lock: the producer may have ended it meanwhile.
            let txn = {
                let index = self.index();
                match (index.txns.get(&id), index.deadlines.get(&id)) {
                    (Some(t), Some(d)) if t.state == TxnState::Ongoing && *d <= now => t.clone(),
                    (Some(t), _) if matches!(t.state, TxnState::PrepareCommit | TxnState::PrepareAbort) => {
                        t.clone()
                    }
                    _ => continue,
                }
            };
            let outcome = if txn.state == TxnState::Ongoing {
                tracing::info!(id, producer = txn.producer_id, "transaction timed out; aborting");
                self.fence_and_abort(txn).await.map(|_| ())
            } else {
                let commit = txn.state == TxnState::PrepareCommit;
                self.complete(txn, commit).await.map(|_| ()).map_err(|e| unavailable(&e))
            };
            if let Err(e) = outcome {
                tracing::warn!(id, error = ?e, "could not end a transaction; will retry");
            }
        }
    }

    /// Checks a transactional append: its producer's transaction is open, at this
    /// epoch, and holds the partition.
    pub(crate) fn check_append(
        &self,
        producer_id: u64,
        epoch: i16,
        stream: u64,
    ) -> Result<(), ResponseError> {
        let index = self.index();
        let txn = index
            .by_producer
            .get(&producer_id)
            .and_then(|id| index.txns.get(id))
            .ok_or(ResponseError::InvalidProducerIdMapping)?;
        if epoch != txn.epoch {
            return Err(ResponseError::InvalidProducerEpoch);
        }
        if txn.state != TxnState::Ongoing || !txn.partitions.iter().any(|p| p.stream == stream) {
            return Err(ResponseError::InvalidTxnState);
        }
        Ok(())
    }

    /// The last stable offset of a stream whose high watermark is `end`.
    pub(crate) fn last_stable(&self, stream: u64, end: u64) -> u64 {
        let index = self.index();
        let first_open = index.partitions.get(&stream).and_then(|p| p.open.values().min().copied());
        first_open.map_or(end, |f| f.min(end))
    }

    /// The first offset of producer `producer_id`'s open transaction in `stream`.
    pub(crate) fn open_first_offset(&self, stream: u64, producer_id: u64) -> Option<u64> {
        self.index().partitions.get(&stream).and_then(|p| p.open.get(&producer_id).copied())
    }

    /// Aborted transactions that overlap offsets `from..to` of a stream, oldest first.
    pub(crate) fn aborted(&self, stream: u64, from: u64, to: u64) -> Vec<Aborted> {
        let index = self.index();
        let Some(p) = index.partitions.get(&stream) else { return Vec::new() };
        let mut out: Vec<Aborted> =
            p.aborted.iter().filter(|a| a.first_offset < to && a.last_offset >= from).copied().collect();
        out.sort_by_key(|a| a.first_offset);
        out
    }

    /// Whether an open transaction holds an offset for this group's partition
    /// (OffsetFetch with require_stable answers UNSTABLE_OFFSET_COMMIT then).
    pub(crate) fn pending_offset(&self, group: &str, topic: &str, partition: i32) -> bool {
        self.index().txns.values().any(|t| {
            t.state.open()
                && t.offsets.iter().any(|o| o.group == group && o.topic == topic && o.partition == partition)
        })
    }

    /// Every transactional id's state, sorted by id.
    pub(crate) fn all(&self) -> Vec<Txn> {
        let mut out: Vec<Txn> = self.index().txns.values().cloned().collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    pub(crate) fn get(&self, id: &str) -> Option<Txn> {
        self.index().txns.get(id).cloned()
    }

    /// Forgets aborted spans that retention or DeleteRecords removed, and streams that
    /// are gone.
    fn prune(&self) {
        let mut index = self.index();
        index.partitions.retain(|stream, p| match self.engine.bounds(*stream) {
            Ok((start, _)) => {
                p.aborted.retain(|a| a.last_offset >= start);
                !(p.aborted.is_empty() && p.open.is_empty())
            }
            Err(_) => !p.open.is_empty(),
        });
    }
}

/// Aborts timed-out transactions while the coordinator lives.
async fn expire(coordinator: std::sync::Weak<Coordinator>) {
    let mut tick = tokio::time::interval(EXPIRY_CHECK);
    loop {
        tick.tick().await;
        let Some(c) = coordinator.upgrade() else { return };
        c.abort_expired().await;
        c.prune();
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use floe_stream::Batch;

    use super::*;

    fn txn(state: TxnState, partitions: &[(u64, u64, Option<u64>)]) -> Txn {
        Txn {
            id: "t".into(),
            producer_id: 7,
            epoch: 0,
            timeout_ms: 1000,
            state,
            partitions: partitions
                .iter()
                .map(|&(stream, first_offset, marker)| TxnPartition {
                    topic: "x".into(),
                    partition: 0,
                    stream,
                    first_offset,
                    marker,
                })
                .collect(),
            groups: Vec::new(),
            offsets: Vec::new(),
            started_ms: 0,
        }
    }

    #[test]
    fn the_index_follows_a_transaction_through_its_states() {
        let mut index = Index::default();
        index.apply(txn(TxnState::Ongoing, &[(1, 10, None), (2, 4, None)]));
        assert_eq!(index.partitions[&1].open.get(&7), Some(&10));
        assert!(index.deadlines.contains_key("t"));
        index.apply(txn(TxnState::PrepareAbort, &[(1, 10, None), (2, 4, None)]));
        assert_eq!(index.partitions[&2].open.get(&7), Some(&4), "prepared is still open");
        assert!(!index.deadlines.contains_key("t"));
        index.apply(txn(TxnState::CompleteAbort, &[(1, 10, Some(15)), (2, 4, Some(9))]));
        assert!(index.partitions[&1].open.is_empty());
        assert_eq!(
            index.partitions[&1].aborted,
            vec![Aborted { producer_id: 7, first_offset: 10, last_offset: 15 }]
        );
        index.apply(txn(TxnState::Ongoing, &[(1, 16, None)]));
        index.apply(txn(TxnState::CompleteCommit, &[(1, 16, Some(20))]));
        assert!(index.partitions[&1].open.is_empty());
        assert_eq!(index.partitions[&1].aborted.len(), 1, "commits leave no abort span");
        assert_eq!(index.by_producer.get(&7).map(String::as_str), Some("t"));
    }

    /// The coordinator over a real (in-memory) broker: LSO, markers, the abort index,
    /// fencing, expiry, and the same state after a replay.
    #[tokio::test]
    async fn transactions_end_in_markers_and_survive_a_replay() {
        let broker = crate::start(crate::Config::in_memory()).await.unwrap().broker;
        let s = broker.engine.create_topic("t", 1, Default::default()).await.unwrap().streams[0];
        let txns = &broker.txns;
        let fenced = ResponseError::ProducerFenced;
        let anyone = Caller { producer_id: -1, epoch: -1, fenced };
        let (pid, epoch) = txns.init_producer("a", 60_000, anyone).await.unwrap();
        let me = Caller { producer_id: pid as i64, epoch, fenced };
        let plain = Batch { payload: Bytes::from_static(b"p"), records: 2, max_timestamp: 0 };
        broker.engine.append(s, vec![plain.clone()]).await.unwrap();
        assert_eq!(txns.check_append(pid, epoch, s), Err(ResponseError::InvalidTxnState), "not added yet");
        txns.add_partitions("a", me, vec![("t".into(), 0, s)]).await.unwrap();
        txns.check_append(pid, epoch, s).unwrap();
        let stamp = ProducerStamp { id: pid, epoch, first_sequence: 0 };
        let txn_batch = Batch { payload: Bytes::from_static(b"x"), records: 3, max_timestamp: 0 };
        broker.engine.submit(s, vec![txn_batch], Some(stamp)).await.unwrap().durable().await.unwrap();
        assert_eq!(txns.last_stable(s, 5), 2, "the open transaction holds the LSO at its first offset");
        txns.end("a", me, false).await.unwrap();
        let end = broker.engine.bounds(s).unwrap().1;
        assert_eq!(end, 6, "one abort marker after the transaction's records");
        assert_eq!(txns.last_stable(s, end), end);
        let aborted = vec![Aborted { producer_id: pid, first_offset: 2, last_offset: 5 }];
        assert_eq!(txns.aborted(s, 0, end), aborted);
        assert!(txns.aborted(s, 0, 2).is_empty(), "not overlapping the range asked for");
        // the markers fenced nothing: the producer's next transaction carries on
        txns.add_partitions("a", me, vec![("t".into(), 0, s)]).await.unwrap();
        // a new producer with the same id aborts it and fences the old one
        let (pid2, epoch2) = txns.init_producer("a", 60_000, anyone).await.unwrap();
        assert_eq!((pid2, epoch2), (pid, epoch + 2));
        assert_eq!(txns.end("a", me, true).await, Err(fenced));
        assert_eq!(txns.check_append(pid, epoch, s), Err(ResponseError::InvalidProducerEpoch));
        let stale = ProducerStamp { id: pid, epoch, first_sequence: 3 };
        let zombie = broker.engine.submit(s, vec![plain], Some(stale)).await.unwrap().durable().await;
        assert!(matches!(zombie, Err(floe_stream::Error::ProducerFenced(_))), "{zombie:?}");
        assert_eq!(txns.aborted(s, 0, u64::MAX).len(), 2);
        // replayed from the stream, the state is the same
        let replayed = Coordinator::start(broker.engine.clone(), broker.groups.clone()).await.unwrap();
        assert_eq!(replayed.aborted(s, 0, u64::MAX), txns.aborted(s, 0, u64::MAX));
        assert_eq!(replayed.get("a"), txns.get("a"));
        // a transaction open past its timeout is aborted and its producer fenced
        let (pid3, epoch3) = txns.init_producer("short", 1, anyone).await.unwrap();
        let short = Caller { producer_id: pid3 as i64, epoch: epoch3, fenced };
        txns.add_partitions("short", short, vec![("t".into(), 0, s)]).await.unwrap();
        for _ in 0..100 {
            if txns.get("short").is_some_and(|t| t.state == TxnState::CompleteAbort) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let expired = txns.get("short").unwrap();
        assert_eq!((expired.state, expired.epoch), (TxnState::CompleteAbort, epoch3 + 1));
        assert_eq!(txns.end("short", short, true).await, Err(fenced));
    }

    /// A crash between logging the decision and the markers: the next start finishes it.
    #[tokio::test]
    async fn a_prepared_transaction_is_finished_at_start() {
        let broker = crate::start(crate::Config::in_memory()).await.unwrap().broker;
        let s = broker.engine.create_topic("t", 1, Default::default()).await.unwrap().streams[0];
        let anyone = Caller { producer_id: -1, epoch: -1, fenced: ResponseError::ProducerFenced };
        let (pid, epoch) = broker.txns.init_producer("p", 60_000, anyone).await.unwrap();
        let me = Caller { producer_id: pid as i64, epoch, ..anyone };
        broker.txns.add_partitions("p", me, vec![("t".into(), 0, s)]).await.unwrap();
        let mut prepared = broker.txns.get("p").unwrap();
        prepared.state = TxnState::PrepareCommit;
        broker.txns.persist(prepared).await.unwrap();
        assert_eq!(broker.txns.last_stable(s, 10), 0, "prepared still holds the LSO");
        let restarted = Coordinator::start(broker.engine.clone(), broker.groups.clone()).await.unwrap();
        let done = restarted.get("p").unwrap();
        assert_eq!(done.state, TxnState::CompleteCommit);
        assert_eq!(done.partitions[0].marker, Some(0));
        assert_eq!(broker.engine.bounds(s).unwrap().1, 1, "the commit marker");
        assert_eq!(restarted.last_stable(s, 1), 1);
    }
}

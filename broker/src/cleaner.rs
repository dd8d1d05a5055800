//! The log cleaner of topics whose `cleanup.policy` includes `compact`: keeps the latest
//! record of each key, as Kafka's does. A batch that loses records is re-encoded by
//! kafka-protocol's record codec (same compression) and put back at the offsets its
//! records had; offsets whose records are gone become holes (frames with no bytes),
//! which Fetch skips, exactly as a Kafka consumer skips the gaps of a compacted log.
//! Records without a key, tombstones (the latest record of their key) and
//! transactional or control batches are kept.
//!
//! The cleaner reads the whole stream each pass (to learn the latest offset of every
//! key) and only runs when the stream has grown since its last pass.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use floe_stream::{Batch, CompactionStats, Engine};
use kafka_protocol::records::{
    Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, RecordSet,
};

/// Bytes of a record batch's header before its base offset is patched (see `batch`).
const BASE_OFFSET_LEN: usize = 8;

fn decode(payload: &Bytes) -> Option<RecordSet> {
    if payload.len() < BASE_OFFSET_LEN {
        return None;
    }
    RecordBatchDecoder::decode(&mut payload.clone()).ok()
}

/// The offset the batch's header names as its first: the records' offsets count from it.
fn header_base(payload: &Bytes) -> i64 {
    let mut a = [0u8; BASE_OFFSET_LEN];
    a.copy_from_slice(&payload[..BASE_OFFSET_LEN]);
    i64::from_be_bytes(a)
}

/// Offsets the records of a batch stored at `base` have in the stream.
fn offset_of(base: u64, header: i64, record: &Record) -> u64 {
    base + u64::try_from(record.offset - header).unwrap_or(0)
}

fn hole(records: u64) -> Option<Batch> {
    (records > 0).then(|| Batch { payload: Bytes::new(), records: records as u32, max_timestamp: i64::MIN })
}

/// Cleans one stream: rewrites its committed batches that hold records superseded by a
/// later record of the same key.
pub(crate) async fn clean(engine: &Engine, stream: u64) -> floe_stream::Result<CompactionStats> {
    let (start, end) = engine.bounds(stream)?;
    let mut latest: HashMap<Bytes, u64> = HashMap::new();
    let mut next = start;
    while next < end {
        let batches = engine.read(stream, next, 8 << 20).await?;
        let Some(last) = batches.last() else { break };
        next = last.base_offset + u64::from(last.batch.records);
        for b in &batches {
            let Some(set) = decode(&b.batch.payload) else { continue };
            let header = header_base(&b.batch.payload);
            for r in &set.records {
                if let Some(key) = &r.key {
                    latest.insert(key.clone(), offset_of(b.base_offset, header, r));
                }
            }
        }
    }
    let rewriter = |base: u64, batch: &Batch| -> Option<Vec<Batch>> {
        let set = decode(&batch.payload)?;
        if set.records.iter().any(|r| r.transactional || r.control) {
            return None;
        }
        let header = header_base(&batch.payload);
        let kept: Vec<&Record> = set
            .records
            .iter()
            .filter(|r| r.key.as_ref().is_none_or(|k| latest.get(k) == Some(&offset_of(base, header, r))))
            .collect();
        if kept.len() == set.records.len() {
            return None;
        }
        let span = u64::from(batch.records);
        let (Some(first), Some(last)) = (kept.first(), kept.last()) else {
            return Some(hole(span).into_iter().collect());
        };
        let mut payload = BytesMut::new();
        let options = RecordEncodeOptions { version: 2, compression: set.compression };
        RecordBatchEncoder::encode(&mut payload, kept.iter().copied(), &options).ok()?;
        // One batch, or Fetch could not give the records their offsets: leave it be.
        if crate::batch::parse(payload.clone().freeze()).map(|p| p.batches.len()) != Ok(1) {
            return None;
        }
        let lead = offset_of(base, header, first) - base;
        let records = offset_of(base, header, last) - offset_of(base, header, first) + 1;
        let rewritten = Batch {
            payload: payload.freeze(),
            records: records as u32,
            max_timestamp: kept.iter().map(|r| r.timestamp).max().unwrap_or(i64::MIN),
        };
        let trail = span.checked_sub(lead + records)?;
        Some(hole(lead).into_iter().chain(Some(rewritten)).chain(hole(trail)).collect())
    };
    engine.rewrite(stream, end, &rewriter).await
}

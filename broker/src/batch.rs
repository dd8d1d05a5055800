//! Kafka record batches (magic v2) as they arrive in Produce and leave in Fetch. Floe
//! checks them and reads their header; it never decompresses or rewrites them, except
//! for the base offset, which Fetch patches on the way out.
//!
//! ```text
//!  0 i64 baseOffset        8 i32 batchLength      12 i32 partitionLeaderEpoch
//! 16 i8  magic (2)        17 u32 crc (CRC-32C of bytes 21..)
//! 21 i16 attributes       23 i32 lastOffsetDelta  27 i64 baseTimestamp
//! 35 i64 maxTimestamp     43 i64 producerId       51 i16 producerEpoch
//! 53 i32 baseSequence     57 i32 recordCount      61 records...
//! ```
//!
//! Attributes bit 4 marks a transactional batch, bit 5 a control batch (a transaction's
//! commit or abort marker, which only the broker writes: see [`marker`]).

use bytes::{Bytes, BytesMut};
use floe_stream::{Batch, ProducerStamp};
use kafka_protocol::ResponseError;

const HEADER_LEN: usize = 61;
const TRANSACTIONAL: i16 = 1 << 4;
const CONTROL: i16 = 1 << 5;
const LENGTH_PREFIX: usize = 12;

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// A Produce payload, checked.
#[derive(Debug, PartialEq)]
pub(crate) struct Parsed {
    pub(crate) batches: Vec<Batch>,
    /// The idempotent producer that sent it, if any.
    pub(crate) producer: Option<ProducerStamp>,
    /// Whether its batches belong to a transaction.
    pub(crate) transactional: bool,
}

/// Splits a Produce payload into checked batches.
pub(crate) fn parse(mut records: Bytes) -> Result<Parsed, ResponseError> {
    let mut batches = Vec::new();
    let mut producer: Option<(i64, i16, i32)> = None;
    let mut next_sequence: Option<i32> = None;
    let mut transactional = None;
    if records.is_empty() {
        return Err(ResponseError::InvalidRecord);
    }
    while !records.is_empty() {
        if records.len() < HEADER_LEN {
            return Err(ResponseError::CorruptMessage);
        }
        if records[16] != 2 {
            return Err(ResponseError::UnsupportedForMessageFormat);
        }
        let length = i32_at(&records, 8);
        let total = usize::try_from(length)
            .ok()
            .and_then(|l| l.checked_add(LENGTH_PREFIX))
            .filter(|t| *t >= HEADER_LEN && *t <= records.len())
            .ok_or(ResponseError::CorruptMessage)?;
        let bytes = records.split_to(total);
        let crc = u32::from_be_bytes([bytes[17], bytes[18], bytes[19], bytes[20]]);
        if crc32c::crc32c(&bytes[21..]) != crc {
            return Err(ResponseError::CorruptMessage);
        }
        let last_offset_delta = i32_at(&bytes, 23);
        let record_count = i32_at(&bytes, 57);
        if last_offset_delta < 0 || record_count != last_offset_delta + 1 {
            return Err(ResponseError::InvalidRecord);
        }
        let attributes = i16::from_be_bytes([bytes[21], bytes[22]]);
        // Control batches are the coordinator's alone; a request mixing transactional
        // and plain batches cannot be part of one transaction.
        if attributes & CONTROL != 0
            || *transactional.get_or_insert(attributes & TRANSACTIONAL != 0)
                != (attributes & TRANSACTIONAL != 0)
        {
            return Err(ResponseError::InvalidRecord);
        }
        let producer_id = i64_at(&bytes, 43);
        let epoch = i16::from_be_bytes([bytes[51], bytes[52]]);
        let sequence = i32_at(&bytes, 53);
        match (batches.is_empty(), producer) {
            (true, _) if producer_id >= 0 => producer = Some((producer_id, epoch, sequence)),
            (true, _) => {}
            // Later batches must come from the same producer, continuing its sequence.
            (false, Some((id, e, _)))
                if id == producer_id && e == epoch && next_sequence == Some(sequence) => {}
            (false, None) if producer_id < 0 => {}
            _ => return Err(ResponseError::InvalidRecord),
        }
        next_sequence = Some(sequence.wrapping_add(record_count) & i32::MAX);
        batches.push(Batch {
            records: record_count as u32,
            max_timestamp: i64_at(&bytes, 35),
            payload: bytes,
        });
    }
    let transactional = transactional.unwrap_or(false);
    if transactional && producer.is_none() {
        return Err(ResponseError::InvalidRecord);
    }
    Ok(Parsed {
        transactional,
        batches,
        producer: producer.map(|(id, epoch, first_sequence)| ProducerStamp {
            id: id as u64,
            epoch,
            first_sequence,
        }),
    })
}

/// A transaction marker: the control batch that ends producer `producer_id`'s
/// transaction in one partition. Its one record has Kafka's fixed control layout: key
/// (version 0, type 0 abort / 1 commit), value (version 0, coordinator epoch).
pub(crate) fn marker(
    producer_id: u64,
    epoch: i16,
    commit: bool,
    now_ms: i64,
) -> Result<Batch, ResponseError> {
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    const COORDINATOR_EPOCH: i32 = 0;
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&i16::from(commit).to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&COORDINATOR_EPOCH.to_be_bytes());
    let record = Record {
        transactional: true,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: producer_id as i64,
        producer_epoch: epoch,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: now_ms,
        key: Some(Bytes::from(key)),
        value: Some(Bytes::from(value)),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        [&record],
        &RecordEncodeOptions { version: 2, compression: Compression::None },
    )
    .map_err(|_| ResponseError::UnknownServerError)?;
    let records = i32_at(&buf, 57);
    Ok(Batch { records: records as u32, max_timestamp: now_ms, payload: buf.freeze() })
}

/// Appends `batch` to `out` with its base offset set to `base_offset`. The CRC does not
/// cover the base offset, so the batch stays valid.
pub(crate) fn put_patched(out: &mut BytesMut, base_offset: u64, batch: &[u8]) {
    if batch.len() < HEADER_LEN {
        return; // a hole a compacted topic's cleaner left: offsets with no record
    }
    let start = out.len();
    out.extend_from_slice(batch);
    out[start..start + 8].copy_from_slice(&(base_offset as i64).to_be_bytes());
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal valid batch of `n` records (the records themselves are opaque bytes).
    pub(crate) fn batch(n: i32, body: &[u8]) -> Vec<u8> {
        idempotent(n, body, -1, 0)
    }

    /// The same, from producer `id` starting at `sequence`.
    pub(crate) fn idempotent(n: i32, body: &[u8], id: i64, sequence: i32) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_LEN];
        b[43..51].copy_from_slice(&id.to_be_bytes());
        b[53..57].copy_from_slice(&sequence.to_be_bytes());
        b.extend_from_slice(body);
        let len = (b.len() - LENGTH_PREFIX) as i32;
        b[8..12].copy_from_slice(&len.to_be_bytes());
        b[16] = 2;
        b[23..27].copy_from_slice(&(n - 1).to_be_bytes());
        b[35..43].copy_from_slice(&1234i64.to_be_bytes());
        b[57..61].copy_from_slice(&n.to_be_bytes());
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        b
    }

    #[test]
    fn parses_and_checks_batches() {
        let mut two = batch(3, b"abc");
        two.extend(batch(1, b"d"));
        let parsed = parse(Bytes::from(two)).unwrap();
        assert_eq!(parsed.batches.iter().map(|b| b.records).collect::<Vec<_>>(), vec![3, 1]);
        assert_eq!(parsed.batches[0].max_timestamp, 1234);
        assert_eq!(parsed.producer, None);
        assert!(!parsed.transactional);
    }

    #[test]
    fn transactional_batches_need_a_producer_and_control_batches_are_refused() {
        let mut txn = idempotent(2, b"ab", 9, 0);
        txn[21..23].copy_from_slice(&TRANSACTIONAL.to_be_bytes());
        let crc = crc32c::crc32c(&txn[21..]);
        txn[17..21].copy_from_slice(&crc.to_be_bytes());
        let parsed = parse(Bytes::from(txn.clone())).unwrap();
        assert!(parsed.transactional);
        let mut mixed = txn;
        mixed.extend(idempotent(1, b"c", 9, 2));
        assert_eq!(parse(Bytes::from(mixed)), Err(ResponseError::InvalidRecord));
        let m = marker(9, 3, true, 55).unwrap();
        assert_eq!(m.records, 1);
        assert_eq!(i16::from_be_bytes([m.payload[21], m.payload[22]]), TRANSACTIONAL | CONTROL);
        assert_eq!(i16::from_be_bytes([m.payload[51], m.payload[52]]), 3);
        assert_eq!(parse(m.payload), Err(ResponseError::InvalidRecord), "clients may not write markers");
    }

    #[test]
    fn reads_the_producer_and_checks_its_sequences() {
        let mut two = idempotent(3, b"a", 9, 10);
        two.extend(idempotent(2, b"b", 9, 13));
        let parsed = parse(Bytes::from(two)).unwrap();
        assert_eq!(parsed.producer, Some(ProducerStamp { id: 9, epoch: 0, first_sequence: 10 }));
        let mut gap = idempotent(3, b"a", 9, 10);
        gap.extend(idempotent(2, b"b", 9, 14));
        assert_eq!(parse(Bytes::from(gap)), Err(ResponseError::InvalidRecord));
        let mut mixed = idempotent(1, b"a", 9, 0);
        mixed.extend(batch(1, b"b"));
        assert_eq!(parse(Bytes::from(mixed)), Err(ResponseError::InvalidRecord));
    }

    #[test]
    fn rejects_bad_input() {
        let good = batch(2, b"xy");
        let mut bad_crc = good.clone();
        *bad_crc.last_mut().unwrap() ^= 1;
        assert_eq!(parse(Bytes::from(bad_crc)), Err(ResponseError::CorruptMessage));
        let mut old_magic = good.clone();
        old_magic[16] = 1;
        assert_eq!(parse(Bytes::from(old_magic)), Err(ResponseError::UnsupportedForMessageFormat));
        assert_eq!(parse(Bytes::from(good[..30].to_vec())), Err(ResponseError::CorruptMessage));
        let mut huge_len = good.clone();
        huge_len[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
        assert_eq!(parse(Bytes::from(huge_len)), Err(ResponseError::CorruptMessage));
        let mut negative = good;
        negative[8..12].copy_from_slice(&(-5i32).to_be_bytes());
        assert_eq!(parse(Bytes::from(negative)), Err(ResponseError::CorruptMessage));
        assert_eq!(parse(Bytes::new()), Err(ResponseError::InvalidRecord));
    }

    #[test]
    fn patching_keeps_the_crc_valid() {
        let b = batch(2, b"xy");
        let mut out = BytesMut::new();
        put_patched(&mut out, 77, &b);
        assert_eq!(i64_at(&out, 0), 77);
        assert!(parse(out.freeze()).is_ok());
    }
}

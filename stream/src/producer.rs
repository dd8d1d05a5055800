//! Idempotent appends: each producer numbers its appends per stream, and the WAL uses
//! these numbers to drop retried duplicates and refuse gaps. The state lives in the
//! metadata (updated by the same commit that makes the data visible), so it survives a
//! restart exactly as the data does.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How many recent appends per producer are remembered for duplicate detection (as in
/// Kafka, where a producer has at most five requests in flight).
pub const REMEMBERED: usize = 5;

/// Who sent an append, and its place in that producer's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerStamp {
    /// Producer id.
    pub id: u64,
    /// Producer epoch; a newer epoch fences older ones.
    pub epoch: i16,
    /// Sequence number of the append's first record; negative for a marker that
    /// carries only an epoch (a transaction's commit or abort record): it fences older
    /// epochs without taking a place in the sequence.
    pub first_sequence: i32,
}

/// One remembered append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerBatch {
    /// Sequence of its first record.
    pub first_sequence: i32,
    /// Sequence of its last record.
    pub last_sequence: i32,
    /// Offset of its first record.
    pub base_offset: u64,
}

/// What one producer last appended to one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerState {
    /// Current epoch.
    pub epoch: i16,
    /// Most recent appends, oldest first.
    pub recent: VecDeque<ProducerBatch>,
}

/// What to do with an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// New: write it.
    Append,
    /// Already written at this offset: answer with it, write nothing.
    Duplicate(u64),
}

/// Sequence numbers wrap from i32::MAX to 0.
fn last_sequence(first: i32, records: u32) -> i32 {
    let last = i64::from(first) + i64::from(records) - 1;
    (last % (i64::from(i32::MAX) + 1)) as i32
}

fn next_sequence(last: i32) -> i32 {
    if last == i32::MAX { 0 } else { last + 1 }
}

impl ProducerState {
    /// Judges an append of `records` records stamped `stamp`; `None` state means the
    /// producer has not appended to this stream before.
    pub(crate) fn check(
        state: Option<&ProducerState>,
        stamp: ProducerStamp,
        records: u32,
    ) -> Result<Verdict> {
        let Some(state) = state else { return Ok(Verdict::Append) };
        if stamp.epoch < state.epoch {
            return Err(Error::ProducerFenced(format!(
                "producer {} epoch {} is older than epoch {}",
                stamp.id, stamp.epoch, state.epoch
            )));
        }
        if stamp.first_sequence < 0 {
            return Ok(Verdict::Append);
        }
        if stamp.epoch > state.epoch {
            return if stamp.first_sequence == 0 {
                Ok(Verdict::Append)
            } else {
                Err(Error::OutOfOrderSequence(format!(
                    "producer {} starts epoch {} at sequence {}, not 0",
                    stamp.id, stamp.epoch, stamp.first_sequence
                )))
            };
        }
        let last = last_sequence(stamp.first_sequence, records);
        if let Some(seen) =
            state.recent.iter().find(|b| b.first_sequence == stamp.first_sequence && b.last_sequence == last)
        {
            return Ok(Verdict::Duplicate(seen.base_offset));
        }
        match state.recent.back() {
            Some(prev) if next_sequence(prev.last_sequence) != stamp.first_sequence => {
                Err(Error::OutOfOrderSequence(format!(
                    "producer {} sent sequence {} after {}",
                    stamp.id, stamp.first_sequence, prev.last_sequence
                )))
            }
            _ => Ok(Verdict::Append),
        }
    }

    /// Remembers an accepted append.
    pub(crate) fn record(&mut self, epoch: i16, first_sequence: i32, records: u32, base_offset: u64) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.recent.clear();
        }
        if first_sequence < 0 {
            return;
        }
        self.recent.push_back(ProducerBatch {
            first_sequence,
            last_sequence: last_sequence(first_sequence, records),
            base_offset,
        });
        while self.recent.len() > REMEMBERED {
            self.recent.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(epoch: i16, seq: i32) -> ProducerStamp {
        ProducerStamp { id: 7, epoch, first_sequence: seq }
    }

    #[test]
    fn sequences_dedupe_and_refuse_gaps() {
        let mut s = ProducerState::default();
        assert_eq!(ProducerState::check(None, stamp(0, 0), 3).unwrap(), Verdict::Append);
        s.record(0, 0, 3, 100);
        // the same append again (a retry): answered with the first offset
        assert_eq!(ProducerState::check(Some(&s), stamp(0, 0), 3).unwrap(), Verdict::Duplicate(100));
        assert_eq!(ProducerState::check(Some(&s), stamp(0, 3), 2).unwrap(), Verdict::Append);
        assert!(matches!(ProducerState::check(Some(&s), stamp(0, 5), 1), Err(Error::OutOfOrderSequence(_))));
        // older epochs are fenced; a new epoch starts at 0
        s.record(2, 0, 1, 200);
        assert!(matches!(ProducerState::check(Some(&s), stamp(1, 1), 1), Err(Error::ProducerFenced(_))));
        assert!(matches!(ProducerState::check(Some(&s), stamp(3, 4), 1), Err(Error::OutOfOrderSequence(_))));
        assert_eq!(ProducerState::check(Some(&s), stamp(3, 0), 1).unwrap(), Verdict::Append);
    }

    #[test]
    fn markers_fence_older_epochs_without_a_sequence() {
        let mut s = ProducerState::default();
        s.record(0, 0, 3, 100);
        let marker = ProducerStamp { id: 7, epoch: 1, first_sequence: -1 };
        assert_eq!(ProducerState::check(Some(&s), marker, 1).unwrap(), Verdict::Append);
        s.record(1, -1, 1, 103);
        assert!(s.recent.is_empty());
        assert!(matches!(ProducerState::check(Some(&s), stamp(0, 3), 1), Err(Error::ProducerFenced(_))));
        assert!(matches!(ProducerState::check(Some(&s), marker, 1), Ok(Verdict::Append)));
        assert_eq!(ProducerState::check(Some(&s), stamp(2, 0), 1).unwrap(), Verdict::Append);
        // a marker of the current epoch leaves the sequence where it was
        let mut t = ProducerState::default();
        t.record(0, 0, 3, 100);
        t.record(0, -1, 1, 103);
        assert_eq!(ProducerState::check(Some(&t), stamp(0, 3), 1).unwrap(), Verdict::Append);
    }

    #[test]
    fn only_recent_appends_are_remembered_and_sequences_wrap() {
        let mut s = ProducerState::default();
        for i in 0..10 {
            s.record(0, i, 1, u64::from(i as u32));
        }
        assert_eq!(s.recent.len(), REMEMBERED);
        assert!(ProducerState::check(Some(&s), stamp(0, 0), 1).is_err(), "too old to recognise");
        let mut w = ProducerState::default();
        w.record(0, i32::MAX - 1, 2, 0);
        assert_eq!(w.recent[0].last_sequence, i32::MAX);
        assert_eq!(ProducerState::check(Some(&w), stamp(0, 0), 1).unwrap(), Verdict::Append);
    }
}

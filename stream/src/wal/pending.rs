//! Appends the file WAL has made durable that no object holds yet: readable from here
//! until the uploader has committed them, and the uploader's work list.

use std::collections::{BTreeMap, VecDeque};

use tokio::time::Instant;

use crate::meta::{ProducerUpdate, State};
use crate::object::Batch;

/// One durable append waiting for upload.
#[derive(Debug, Clone)]
pub(crate) struct PendingAppend {
    /// Offset of its first record.
    pub(crate) base: u64,
    pub(crate) batches: Vec<Batch>,
    /// The idempotent producer's update, committed with the data.
    pub(crate) producer: Option<ProducerUpdate>,
    /// The log segment holding it: the segment may go once nothing in it is pending.
    pub(crate) segment: u64,
}

impl PendingAppend {
    pub(crate) fn end(&self) -> u64 {
        self.base + self.batches.iter().map(|b| u64::from(b.records)).sum::<u64>()
    }

    fn bytes(&self) -> usize {
        self.batches.iter().map(|b| b.payload.len()).sum()
    }
}

/// Per stream, a contiguous run of durable appends that starts where the committed
/// metadata ends.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    streams: BTreeMap<u64, VecDeque<PendingAppend>>,
    bytes: usize,
    /// When the oldest pending append arrived.
    since: Option<Instant>,
}

impl Pending {
    pub(crate) fn push(&mut self, stream: u64, append: PendingAppend) {
        self.bytes += append.bytes();
        self.since.get_or_insert_with(Instant::now);
        self.streams.entry(stream).or_default().push_back(append);
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn since(&self) -> Option<Instant> {
        self.since
    }

    /// One past the last pending offset of `stream`.
    pub(crate) fn end(&self, stream: u64) -> Option<u64> {
        self.streams.get(&stream)?.back().map(PendingAppend::end)
    }

    /// Batches from the one holding `offset` on, up to about `max_bytes` (at least one),
    /// or `None` if `offset` is not pending.
    pub(crate) fn read(&self, stream: u64, offset: u64, max_bytes: usize) -> Option<Vec<(u64, Batch)>> {
        let run = self.streams.get(&stream)?;
        if run.front()?.base > offset {
            return None;
        }
        let mut out = Vec::new();
        let mut bytes = 0;
        for append in run.iter().filter(|a| a.end() > offset) {
            let mut base = append.base;
            for batch in &append.batches {
                let end = base + u64::from(batch.records);
                if end > offset {
                    if !out.is_empty() && bytes + batch.payload.len() > max_bytes {
                        return Some(out);
                    }
                    bytes += batch.payload.len();
                    out.push((base, batch.clone()));
                }
                base = end;
            }
        }
        (!out.is_empty()).then_some(out)
    }

    /// Offset of the first pending batch of `stream` whose largest timestamp is at least
    /// `timestamp`.
    pub(crate) fn offset_for_timestamp(&self, stream: u64, timestamp: i64) -> Option<u64> {
        self.streams.get(&stream)?.iter().find_map(|a| {
            let mut base = a.base;
            a.batches.iter().find_map(|b| {
                let found = (b.max_timestamp >= timestamp).then_some(base);
                base += u64::from(b.records);
                found
            })
        })
    }

    /// The oldest appends of each stream, about `max_bytes` in all (at least one).
    pub(crate) fn take(&self, max_bytes: usize) -> Vec<(u64, Vec<PendingAppend>)> {
        let mut out = Vec::new();
        let mut bytes = 0;
        for (stream, run) in &self.streams {
            let mut taken = Vec::new();
            for append in run {
                if bytes > 0 && bytes + append.bytes() > max_bytes {
                    break;
                }
                bytes += append.bytes();
                taken.push(append.clone());
            }
            if !taken.is_empty() {
                out.push((*stream, taken));
            }
            if bytes >= max_bytes {
                break;
            }
        }
        out
    }

    /// Forgets what the metadata now holds, and the appends of deleted streams.
    pub(crate) fn drop_committed(&mut self, state: &State) {
        for (stream, run) in self.streams.iter_mut() {
            let committed = state.streams.get(stream).map_or(u64::MAX, |s| s.end_offset);
            while run.front().is_some_and(|a| a.end() <= committed) {
                if let Some(gone) = run.pop_front() {
                    self.bytes -= gone.bytes();
                }
            }
        }
        self.streams.retain(|_, run| !run.is_empty());
        if self.streams.is_empty() {
            self.since = None;
        }
    }

    /// The oldest log segment something pending lives in.
    pub(crate) fn oldest_segment(&self) -> Option<u64> {
        self.streams.values().filter_map(|run| run.front().map(|a| a.segment)).min()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::meta::StreamMeta;

    fn append(base: u64, sizes: &[u32], segment: u64) -> PendingAppend {
        let batches = sizes
            .iter()
            .map(|n| Batch { payload: Bytes::from(vec![0u8; 10]), records: *n, max_timestamp: 0 })
            .collect();
        PendingAppend { base, batches, producer: None, segment }
    }

    #[test]
    fn reads_from_the_batch_holding_the_offset_and_forgets_what_is_committed() {
        let mut p = Pending::default();
        p.push(7, append(10, &[2, 3], 1));
        p.push(7, append(15, &[1], 2));
        assert_eq!(p.end(7), Some(16));
        assert_eq!(p.read(7, 9, 100), None, "offset 9 is not pending");
        let from_13: Vec<u64> = p.read(7, 13, 100).unwrap().iter().map(|(b, _)| *b).collect();
        assert_eq!(from_13, vec![12, 15]);
        assert_eq!(p.read(7, 13, 1).unwrap().len(), 1, "at least one batch, then the byte budget");
        p.streams.get_mut(&7).unwrap()[0].batches[1].max_timestamp = 5;
        assert_eq!(p.offset_for_timestamp(7, 1), Some(12));
        assert_eq!(p.offset_for_timestamp(7, 6), None);
        assert_eq!(p.oldest_segment(), Some(1));
        let mut state = State::default();
        state.streams.insert(7, StreamMeta { end_offset: 15, ..StreamMeta::default() });
        p.drop_committed(&state);
        assert_eq!((p.bytes(), p.oldest_segment()), (10, Some(2)));
        state.streams.clear();
        p.drop_committed(&state);
        assert_eq!((p.bytes(), p.end(7), p.since()), (0, None, None), "a deleted stream's appends go");
    }
}

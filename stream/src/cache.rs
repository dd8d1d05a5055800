//! In-memory caches, both bounded by bytes. [`LogCache`] holds the newest batches of
//! each stream so tailing readers never touch the store; [`BlockCache`] holds recently
//! fetched data blocks so a catch-up reader fetching a block piece by piece pays one GET.

use std::collections::{BTreeMap, HashMap, VecDeque};

use bytes::Bytes;

use crate::object::Batch;

/// The newest batches of each stream. Per stream it holds a contiguous run of offsets
/// that ends at the stream's end; eviction takes the oldest appends first.
#[derive(Debug)]
pub(crate) struct LogCache {
    limit: usize,
    size: usize,
    streams: HashMap<u64, VecDeque<(u64, Batch)>>,
    /// Insertion order for eviction: (stream, base offset of the batch).
    order: VecDeque<(u64, u64)>,
}

impl LogCache {
    pub(crate) fn new(limit: usize) -> Self {
        LogCache { limit, size: 0, streams: HashMap::new(), order: VecDeque::new() }
    }

    /// Adds a committed batch at `base`, which must be where the stream's cache ends
    /// (else the stream's cache restarts at `base`).
    pub(crate) fn push(&mut self, stream: u64, base: u64, batch: Batch) {
        let run = self.streams.entry(stream).or_default();
        if let Some((last_base, last)) = run.back()
            && last_base + u64::from(last.records) != base
        {
            self.size -= run.iter().map(|(_, b)| b.payload.len()).sum::<usize>();
            run.clear();
        }
        self.size += batch.payload.len();
        run.push_back((base, batch));
        self.order.push_back((stream, base));
        while self.size > self.limit {
            let Some((s, b)) = self.order.pop_front() else {
                break;
            };
            if let Some(run) = self.streams.get_mut(&s)
                && run.front().is_some_and(|(front, _)| *front == b)
                && let Some((_, evicted)) = run.pop_front()
            {
                self.size -= evicted.payload.len();
            }
        }
    }

    /// Batches from the one holding `offset` on, up to about `max_bytes` (at least one),
    /// or `None` if `offset` is older than what is cached.
    pub(crate) fn read(&self, stream: u64, offset: u64, max_bytes: usize) -> Option<Vec<(u64, Batch)>> {
        let run = self.streams.get(&stream)?;
        let (first, _) = run.front()?;
        if offset < *first {
            return None;
        }
        let start = run.partition_point(|(base, b)| base + u64::from(b.records) <= offset);
        let mut out = Vec::new();
        let mut bytes = 0;
        for (base, batch) in run.iter().skip(start) {
            if !out.is_empty() && bytes + batch.payload.len() > max_bytes {
                break;
            }
            bytes += batch.payload.len();
            out.push((*base, batch.clone()));
        }
        Some(out)
    }

    pub(crate) fn forget(&mut self, stream: u64) {
        if let Some(run) = self.streams.remove(&stream) {
            self.size -= run.iter().map(|(_, b)| b.payload.len()).sum::<usize>();
        }
    }
}

/// Recently fetched blocks by (object, position), least recently used evicted first.
#[derive(Debug)]
pub(crate) struct BlockCache {
    limit: usize,
    size: usize,
    tick: u64,
    blocks: HashMap<(String, u64), (u64, Bytes)>,
    by_age: BTreeMap<u64, (String, u64)>,
}

impl BlockCache {
    pub(crate) fn new(limit: usize) -> Self {
        BlockCache { limit, size: 0, tick: 0, blocks: HashMap::new(), by_age: BTreeMap::new() }
    }

    pub(crate) fn get(&mut self, object: &str, position: u64) -> Option<Bytes> {
        let key = (object.to_string(), position);
        let (age, bytes) = self.blocks.get_mut(&key)?;
        self.by_age.remove(age);
        self.tick += 1;
        *age = self.tick;
        self.by_age.insert(self.tick, key);
        Some(bytes.clone())
    }

    pub(crate) fn insert(&mut self, object: &str, position: u64, bytes: Bytes) {
        if bytes.len() > self.limit {
            return;
        }
        let key = (object.to_string(), position);
        self.tick += 1;
        self.size += bytes.len();
        if let Some((age, old)) = self.blocks.insert(key.clone(), (self.tick, bytes)) {
            self.by_age.remove(&age);
            self.size -= old.len();
        }
        self.by_age.insert(self.tick, key);
        while self.size > self.limit {
            let Some((_, key)) = self.by_age.pop_first() else {
                break;
            };
            if let Some((_, old)) = self.blocks.remove(&key) {
                self.size -= old.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(len: usize, records: u32) -> Batch {
        Batch { payload: Bytes::from(vec![0; len]), records, max_timestamp: 0 }
    }

    #[test]
    fn log_cache_serves_the_tail_and_evicts_the_oldest() {
        let mut c = LogCache::new(250);
        c.push(1, 0, batch(100, 2));
        c.push(1, 2, batch(100, 3));
        assert_eq!(c.read(1, 3, 1 << 20).unwrap()[0].0, 2);
        c.push(1, 5, batch(100, 1)); // over the limit: offsets 0..2 go
        assert!(c.read(1, 0, 1 << 20).is_none());
        let tail = c.read(1, 2, 1 << 20).unwrap();
        assert_eq!(tail.iter().map(|(b, _)| *b).collect::<Vec<_>>(), vec![2, 5]);
        // max_bytes bounds the answer, but one batch always comes back
        assert_eq!(c.read(1, 2, 1).unwrap().len(), 1);
        assert_eq!(c.read(1, 6, 1).unwrap().len(), 0, "at the end: nothing yet");
        c.forget(1);
        assert!(c.read(1, 5, 10).is_none());
    }

    #[test]
    fn log_cache_restarts_on_a_gap() {
        let mut c = LogCache::new(1000);
        c.push(1, 0, batch(10, 1));
        c.push(1, 7, batch(10, 1));
        assert!(c.read(1, 0, 100).is_none());
        assert_eq!(c.read(1, 7, 100).unwrap().len(), 1);
    }

    #[test]
    fn block_cache_evicts_least_recently_used() {
        let mut c = BlockCache::new(20);
        c.insert("a", 0, Bytes::from(vec![0; 10]));
        c.insert("b", 0, Bytes::from(vec![0; 10]));
        assert!(c.get("a", 0).is_some());
        c.insert("c", 0, Bytes::from(vec![0; 10]));
        assert!(c.get("b", 0).is_none());
        assert!(c.get("a", 0).is_some());
        assert!(c.get("c", 0).is_some());
    }
}

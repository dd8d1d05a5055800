//! Metadata: topics and their configs, streams and their object index. [`MetaStore`] is
//! the seam; [`EmbeddedMeta`] keeps the log in the data bucket itself. Every change goes
//! through one conditional commit, checked against the current state first.

mod embedded;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::RwLockReadGuard;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::object::BlockEntry;
use crate::producer::ProducerState;

pub use embedded::EmbeddedMeta;
pub(crate) use embedded::get_all;

/// A named group of streams with string settings (a Kafka topic, to the broker).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topic {
    /// Unique name.
    pub name: String,
    /// Unique id, never reused.
    pub id: uuid::Uuid,
    /// Stream of each partition, by partition index.
    pub streams: Vec<u64>,
    /// Settings, by name.
    pub configs: BTreeMap<String, String>,
}

/// One data block of a stream, and the object it lives in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRef {
    /// Key of the object.
    pub object: String,
    /// Size of the whole object (0 if unknown).
    #[serde(default)]
    pub object_size: u64,
    /// Where in the object, and which offsets.
    pub entry: BlockEntry,
}

/// Names one stored block: objects are never rewritten, so a key and a position are
/// enough to tell whether the block a compactor read is still the one a stream uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlockId {
    /// Key of the object.
    pub object: String,
    /// Byte position of the block in it.
    pub position: u64,
}

/// One new block standing in for a run of a stream's blocks (compaction).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replacement {
    /// The new block, in the change's object. It may start above the first replaced
    /// block, but only by offsets already trimmed away.
    pub block: BlockEntry,
    /// The blocks it replaces, in offset order: exactly the stream's blocks that hold
    /// the new block's offsets, ending where it ends.
    pub replaced: Vec<BlockId>,
}

/// A producer's accepted append, made part of the metadata with the data it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerUpdate {
    /// Stream appended to.
    pub stream: u64,
    /// Producer id.
    pub producer: u64,
    /// Producer epoch.
    pub epoch: i16,
    /// Sequence of the first record.
    pub first_sequence: i32,
    /// Records in the append.
    pub records: u32,
    /// Offset of the first record.
    pub base_offset: u64,
}

/// A stream: contiguous offsets in blocks of objects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamMeta {
    /// First offset still readable.
    pub start_offset: u64,
    /// Next offset to be assigned.
    pub end_offset: u64,
    /// Blocks in offset order, contiguous.
    pub blocks: Vec<BlockRef>,
    /// Idempotent producers' recent appends, by producer id.
    #[serde(default)]
    pub producers: BTreeMap<u64, ProducerState>,
    /// Epoch of the stream's current writer: each writer that takes a stream over bumps
    /// it, and a commit made under an older epoch is refused (0: never claimed).
    #[serde(default)]
    pub epoch: u64,
}

impl StreamMeta {
    /// Index of the block holding `offset`, if any.
    pub fn block_for(&self, offset: u64) -> Option<usize> {
        let i = self.blocks.partition_point(|b| b.entry.end_offset() <= offset);
        (i < self.blocks.len() && self.blocks[i].entry.base_offset <= offset).then_some(i)
    }
}

/// Everything the metadata store knows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Topics by name.
    pub topics: BTreeMap<String, Topic>,
    /// Streams by id.
    pub streams: BTreeMap<u64, StreamMeta>,
    /// Next stream id to hand out.
    pub next_stream_id: u64,
    /// Next producer id to hand out.
    #[serde(default)]
    pub next_producer_id: u64,
}

/// A change to the metadata, as written to the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    /// A new topic with `partitions` new streams.
    CreateTopic {
        /// Topic name.
        name: String,
        /// Topic id.
        id: uuid::Uuid,
        /// Number of partitions.
        partitions: u32,
        /// Settings.
        configs: BTreeMap<String, String>,
    },
    /// Removes a topic and its streams.
    DeleteTopic {
        /// Topic name.
        name: String,
    },
    /// Makes an object's blocks part of their streams.
    CommitObject {
        /// Object key.
        object: String,
        /// Its size in bytes.
        #[serde(default)]
        object_size: u64,
        /// Its blocks; each must start where its stream ends.
        blocks: Vec<BlockEntry>,
        /// Idempotent producers' appends in it.
        #[serde(default)]
        producers: Vec<ProducerUpdate>,
        /// The writer's epoch for each stream it writes; each must be the stream's
        /// current one.
        #[serde(default, with = "pairs")]
        epochs: BTreeMap<u64, u64>,
    },
    /// A writer takes streams over: each gets the new epoch given, one past its current.
    ClaimStreams {
        /// New epoch, by stream.
        #[serde(with = "pairs")]
        epochs: BTreeMap<u64, u64>,
    },
    /// Hands out one producer id.
    AllocateProducerId,
    /// Replaces a topic's settings.
    SetTopicConfigs {
        /// Topic name.
        name: String,
        /// The new settings, whole.
        configs: BTreeMap<String, String>,
    },
    /// Grows a topic to `partitions` partitions with new streams.
    AddPartitions {
        /// Topic name.
        name: String,
        /// The new partition count.
        partitions: u32,
    },
    /// Swaps runs of blocks for new blocks holding the same batches at the same
    /// offsets, all in one new object (compaction). Readers see the old blocks or the
    /// new ones, never a gap or a duplicate.
    ReplaceBlocks {
        /// Key of the new object.
        object: String,
        /// Its size in bytes.
        object_size: u64,
        /// Its blocks, each with the run it replaces; runs do not overlap.
        replacements: Vec<Replacement>,
    },
    /// Makes offsets below `start_offset` unreadable (DeleteRecords, retention).
    TrimStream {
        /// Stream.
        stream: u64,
        /// The new first readable offset.
        start_offset: u64,
    },
}

/// A map with integer keys as a list of pairs: an internally tagged enum cannot read
/// integer keys back from JSON's string keys.
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(map: &BTreeMap<u64, u64>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<u64, u64>, D::Error> {
        Ok(Vec::<(u64, u64)>::deserialize(d)?.into_iter().collect())
    }
}

impl State {
    /// Checks that `change` can be applied: the one place changes are validated.
    pub fn check(&self, change: &Change) -> Result<()> {
        match change {
            Change::CreateTopic { name, partitions, .. } => {
                if self.topics.contains_key(name) {
                    return Err(Error::TopicExists(name.clone()));
                }
                if *partitions == 0 {
                    return Err(Error::Invalid("a topic needs at least one partition".into()));
                }
            }
            Change::DeleteTopic { name } => {
                if !self.topics.contains_key(name) {
                    return Err(Error::UnknownTopic(name.clone()));
                }
            }
            Change::AllocateProducerId => {}
            Change::ClaimStreams { epochs } => {
                for (id, epoch) in epochs {
                    let stream = self.streams.get(id).ok_or(Error::UnknownStream(*id))?;
                    if *epoch != stream.epoch + 1 {
                        return Err(Error::Fenced(format!(
                            "stream {id} is at epoch {}; claiming {epoch} lost a race",
                            stream.epoch
                        )));
                    }
                }
            }
            Change::SetTopicConfigs { name, .. } => {
                if !self.topics.contains_key(name) {
                    return Err(Error::UnknownTopic(name.clone()));
                }
            }
            Change::AddPartitions { name, partitions } => {
                let topic = self.topics.get(name).ok_or_else(|| Error::UnknownTopic(name.clone()))?;
                if (*partitions as usize) <= topic.streams.len() {
                    return Err(Error::Invalid(format!(
                        "topic {name} has {} partitions; it can only grow",
                        topic.streams.len()
                    )));
                }
            }
            Change::TrimStream { stream, start_offset } => {
                let s = self.streams.get(stream).ok_or(Error::UnknownStream(*stream))?;
                if *start_offset > s.end_offset {
                    return Err(Error::OffsetOutOfRange {
                        offset: *start_offset,
                        start: s.start_offset,
                        end: s.end_offset,
                    });
                }
            }
            Change::ReplaceBlocks { replacements, .. } => {
                // Distinct replaced blocks keep the runs disjoint, so each one can be
                // checked against the state as it is and applied in any order.
                let mut seen = std::collections::HashSet::new();
                for r in replacements {
                    self.check_replacement(r)?;
                    if !r.replaced.iter().all(|id| seen.insert(id)) {
                        return Err(Error::Invalid(format!(
                            "compaction of stream {} replaces a block twice",
                            r.block.stream
                        )));
                    }
                }
            }
            Change::CommitObject { blocks, epochs, .. } => {
                for b in blocks {
                    let stream = self.streams.get(&b.stream).ok_or(Error::UnknownStream(b.stream))?;
                    if epochs.get(&b.stream) != Some(&stream.epoch) {
                        return Err(Error::Fenced(format!(
                            "stream {} is at epoch {}; this writer's is {:?}",
                            b.stream,
                            stream.epoch,
                            epochs.get(&b.stream)
                        )));
                    }
                    if b.base_offset != stream.end_offset {
                        return Err(Error::Invalid(format!(
                            "block for stream {} starts at {} but the stream ends at {}",
                            b.stream, b.base_offset, stream.end_offset
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks one replacement of [`Change::ReplaceBlocks`]: the blocks it names must
    /// still be the ones its stream reads for those offsets. A trim, a topic deletion or
    /// another compaction since the compactor looked makes it fail.
    pub fn check_replacement(&self, r: &Replacement) -> Result<()> {
        let b = &r.block;
        let stale = |why: &str| {
            Err(Error::Invalid(format!(
                "compaction of stream {} offsets {}..{} is stale: {why}",
                b.stream,
                b.base_offset,
                b.end_offset()
            )))
        };
        let stream = self.streams.get(&b.stream).ok_or(Error::UnknownStream(b.stream))?;
        let Some(first) = stream.block_for(b.base_offset) else {
            return stale("its offsets are no longer stored");
        };
        let run = stream.blocks.get(first..first + r.replaced.len()).unwrap_or_default();
        let same = run.len() == r.replaced.len()
            && run
                .iter()
                .zip(&r.replaced)
                .all(|(have, id)| have.object == id.object && have.entry.position == id.position);
        if r.replaced.is_empty() || !same {
            return stale("the stream's blocks changed");
        }
        if run.last().map(|l| l.entry.end_offset()) != Some(b.end_offset()) {
            return stale("the new block does not end where the replaced ones do");
        }
        if b.base_offset != run[0].entry.base_offset && b.base_offset > stream.start_offset {
            return stale("the new block drops offsets that are still readable");
        }
        Ok(())
    }

    /// Every object some stream still reads from.
    pub fn referenced_objects(&self) -> std::collections::HashSet<&str> {
        self.streams.values().flat_map(|s| s.blocks.iter().map(|b| b.object.as_str())).collect()
    }

    /// Applies a change that [`State::check`] accepted (or that the log holds).
    pub fn apply(&mut self, change: &Change) {
        match change {
            Change::CreateTopic { name, id, partitions, configs } => {
                let first = self.next_stream_id;
                self.next_stream_id += u64::from(*partitions);
                let streams: Vec<u64> = (first..self.next_stream_id).collect();
                for s in &streams {
                    self.streams.insert(*s, StreamMeta::default());
                }
                self.topics.insert(
                    name.clone(),
                    Topic { name: name.clone(), id: *id, streams, configs: configs.clone() },
                );
            }
            Change::DeleteTopic { name } => {
                if let Some(topic) = self.topics.remove(name) {
                    for s in topic.streams {
                        self.streams.remove(&s);
                    }
                }
            }
            Change::CommitObject { object, object_size, blocks, producers, .. } => {
                for b in blocks {
                    if let Some(stream) = self.streams.get_mut(&b.stream) {
                        stream.end_offset = b.end_offset();
                        stream.blocks.push(BlockRef {
                            object: object.clone(),
                            object_size: *object_size,
                            entry: *b,
                        });
                    }
                }
                for p in producers {
                    if let Some(stream) = self.streams.get_mut(&p.stream) {
                        stream.producers.entry(p.producer).or_default().record(
                            p.epoch,
                            p.first_sequence,
                            p.records,
                            p.base_offset,
                        );
                    }
                }
            }
            Change::ReplaceBlocks { object, object_size, replacements } => {
                for r in replacements {
                    let Some(stream) = self.streams.get_mut(&r.block.stream) else { continue };
                    let Some(first) = stream.block_for(r.block.base_offset) else { continue };
                    let end = (first + r.replaced.len()).min(stream.blocks.len());
                    stream.blocks.splice(
                        first..end,
                        [BlockRef { object: object.clone(), object_size: *object_size, entry: r.block }],
                    );
                }
            }
            Change::AllocateProducerId => self.next_producer_id += 1,
            Change::ClaimStreams { epochs } => {
                for (id, epoch) in epochs {
                    if let Some(stream) = self.streams.get_mut(id) {
                        stream.epoch = *epoch;
                    }
                }
            }
            Change::SetTopicConfigs { name, configs } => {
                if let Some(topic) = self.topics.get_mut(name) {
                    topic.configs = configs.clone();
                }
            }
            Change::AddPartitions { name, partitions } => {
                if let Some(topic) = self.topics.get_mut(name) {
                    while topic.streams.len() < *partitions as usize {
                        let id = self.next_stream_id;
                        self.next_stream_id += 1;
                        self.streams.insert(id, StreamMeta::default());
                        topic.streams.push(id);
                    }
                }
            }
            Change::TrimStream { stream, start_offset } => {
                if let Some(s) = self.streams.get_mut(stream) {
                    s.start_offset = s.start_offset.max(*start_offset);
                    let start = s.start_offset;
                    s.blocks.retain(|b| b.entry.end_offset() > start);
                }
            }
        }
    }
}

/// Where metadata lives: the embedded log in the bucket, or a cluster store.
#[async_trait]
pub trait MetaStore: Send + Sync + Debug {
    /// Commits `change` durably, or fails and leaves the state as it was (a retriable
    /// failure may have reached the store: the next commit finds out and applies it).
    async fn commit(&self, change: Change) -> Result<()>;
    /// Brings the state up to date with the store, resolving commits whose answers were
    /// lost. Callers that derive a change from the state (offsets, above all) call this
    /// first, so that a commit which did land is never assigned again.
    async fn sync(&self) -> Result<()>;
    /// The current state.
    fn state(&self) -> RwLockReadGuard<'_, State>;
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn block(stream: u64, base: u64, records: u64) -> BlockEntry {
        BlockEntry { stream, base_offset: base, records, position: 0, length: 1, max_timestamp: 0 }
    }

    proptest! {
        /// The offset index agrees with a plain model: offset -> the block that holds it.
        #[test]
        fn block_lookup_matches_model(sizes in proptest::collection::vec(1u64..50, 0..40), probe in 0u64..2500) {
            let mut s = StreamMeta::default();
            let mut model = Vec::new();
            for (i, n) in sizes.iter().enumerate() {
                let base = s.end_offset;
                s.blocks.push(BlockRef { object: format!("o{i}"), object_size: 0, entry: block(0, base, *n) });
                s.end_offset += n;
                model.extend(std::iter::repeat_n(i, *n as usize));
            }
            prop_assert_eq!(s.block_for(probe), model.get(probe as usize).copied());
        }
    }

    #[test]
    fn replacements_must_name_the_blocks_the_stream_reads() {
        let mut st = State::default();
        let apply = |st: &mut State, c: Change| {
            st.check(&c).unwrap();
            st.apply(&c);
        };
        apply(
            &mut st,
            Change::CreateTopic {
                name: "t".into(),
                id: uuid::Uuid::nil(),
                partitions: 1,
                configs: BTreeMap::new(),
            },
        );
        apply(&mut st, Change::ClaimStreams { epochs: BTreeMap::from([(0, 1)]) });
        for (i, records) in [2u64, 3, 4].into_iter().enumerate() {
            let base = st.streams[&0].end_offset;
            let block = BlockEntry { position: i as u64, ..block(0, base, records) };
            apply(
                &mut st,
                Change::CommitObject {
                    object: format!("o{i}"),
                    object_size: 9,
                    blocks: vec![block],
                    producers: Vec::new(),
                    epochs: BTreeMap::from([(0, 1)]),
                },
            );
        }
        let id = |i: u64| BlockId { object: format!("o{i}"), position: i };
        let replace = |base: u64, records: u64, ids: Vec<BlockId>| Change::ReplaceBlocks {
            object: "c".into(),
            object_size: 99,
            replacements: vec![Replacement { block: block(0, base, records), replaced: ids }],
        };
        // not ending where the run ends, a block skipped, a block named twice
        assert!(matches!(st.check(&replace(0, 4, vec![id(0), id(1)])), Err(Error::Invalid(_))));
        assert!(matches!(st.check(&replace(0, 5, vec![id(0), id(2)])), Err(Error::Invalid(_))));
        let twice = Change::ReplaceBlocks {
            object: "c".into(),
            object_size: 99,
            replacements: vec![
                Replacement { block: block(0, 0, 2), replaced: vec![id(0)] },
                Replacement { block: block(0, 0, 2), replaced: vec![id(0)] },
            ],
        };
        assert!(matches!(st.check(&twice), Err(Error::Invalid(_))));
        // dropping offsets that are still readable
        assert!(matches!(st.check(&replace(1, 4, vec![id(0), id(1)])), Err(Error::Invalid(_))));
        // ... is fine once they are trimmed
        apply(&mut st, Change::TrimStream { stream: 0, start_offset: 1 });
        let good = replace(1, 4, vec![id(0), id(1)]);
        st.check(&good).unwrap();
        let stale = st.clone();
        st.apply(&good);
        let spans: Vec<(String, u64, u64)> = st.streams[&0]
            .blocks
            .iter()
            .map(|b| (b.object.clone(), b.entry.base_offset, b.entry.end_offset()))
            .collect();
        assert_eq!(spans, vec![("c".into(), 1, 5), ("o2".into(), 5, 9)]);
        assert!(!st.referenced_objects().contains("o0"));
        // the same change again names blocks the stream no longer reads
        assert!(matches!(st.check(&good), Err(Error::Invalid(_))));
        // and a trim past the run makes the compactor's plan stale
        let mut trimmed = stale;
        trimmed.apply(&Change::TrimStream { stream: 0, start_offset: 5 });
        assert!(matches!(trimmed.check(&good), Err(Error::Invalid(_))));
    }

    #[test]
    fn commits_must_be_contiguous() {
        let mut st = State::default();
        let create = Change::CreateTopic {
            name: "t".into(),
            id: uuid::Uuid::nil(),
            partitions: 2,
            configs: BTreeMap::new(),
        };
        st.check(&create).unwrap();
        st.apply(&create);
        assert!(matches!(st.check(&create), Err(Error::TopicExists(_))));
        let claim = Change::ClaimStreams { epochs: BTreeMap::from([(1, 1)]) };
        st.check(&claim).unwrap();
        st.apply(&claim);
        assert!(matches!(st.check(&claim), Err(Error::Fenced(_))), "epoch 1 is taken");
        let ok = Change::CommitObject {
            object: "o".into(),
            object_size: 0,
            blocks: vec![block(1, 0, 5)],
            producers: Vec::new(),
            epochs: BTreeMap::from([(1, 1)]),
        };
        st.check(&ok).unwrap();
        st.apply(&ok);
        assert_eq!(st.streams[&1].end_offset, 5);
        // the same offsets again would reuse offsets 0..5
        assert!(matches!(st.check(&ok), Err(Error::Invalid(_))));
        let unknown = Change::CommitObject {
            object: "o".into(),
            object_size: 0,
            blocks: vec![block(9, 0, 1)],
            producers: Vec::new(),
            epochs: BTreeMap::new(),
        };
        assert!(matches!(st.check(&unknown), Err(Error::UnknownStream(9))));
    }

    #[test]
    fn a_writer_whose_epoch_was_bumped_cannot_commit() {
        let mut st = State::default();
        st.apply(&Change::CreateTopic {
            name: "t".into(),
            id: uuid::Uuid::nil(),
            partitions: 1,
            configs: BTreeMap::new(),
        });
        st.apply(&Change::ClaimStreams { epochs: BTreeMap::from([(0, 1)]) });
        st.apply(&Change::ClaimStreams { epochs: BTreeMap::from([(0, 2)]) });
        let commit = |epoch| Change::CommitObject {
            object: "o".into(),
            object_size: 0,
            blocks: vec![block(0, 0, 1)],
            producers: Vec::new(),
            epochs: BTreeMap::from([(0, epoch)]),
        };
        assert!(matches!(st.check(&commit(1)), Err(Error::Fenced(_))), "the old writer is fenced");
        st.check(&commit(2)).unwrap();
    }
}

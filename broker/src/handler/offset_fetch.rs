//! OffsetFetch: committed offsets of one group (v1-7) or several (v8+); -1 where none.
//! With require_stable (v7+), a partition whose offset an open transaction is about to
//! commit answers UNSTABLE_OFFSET_COMMIT, and the client asks again.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopics;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{ApiKey, GroupId, OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use crate::Broker;
use crate::group::Committed;

pub(crate) const KEY: ApiKey = ApiKey::OffsetFetch;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 1, max: 9 };

/// A topic's partitions and what is committed for each.
type TopicOffsets = (TopicName, Vec<(i32, Option<Committed>)>);

/// Offsets for the topics asked for, or every committed one.
fn lookup(broker: &Broker, group: &str, wanted: Option<Vec<(TopicName, Vec<i32>)>>) -> Vec<TopicOffsets> {
    let committed = broker.groups.committed(group);
    match wanted {
        Some(topics) => topics
            .into_iter()
            .map(|(name, partitions)| {
                let found = partitions
                    .into_iter()
                    .map(|p| (p, committed.get(&(name.to_string(), p)).cloned()))
                    .collect();
                (name, found)
            })
            .collect(),
        None => {
            let mut out: Vec<TopicOffsets> = Vec::new();
            for ((topic, p), c) in committed {
                match out.last_mut() {
                    Some((name, list)) if name.as_str() == topic => list.push((p, Some(c))),
                    _ => out.push((TopicName(StrBytes::from_string(topic)), vec![(p, Some(c))])),
                }
            }
            out
        }
    }
}

/// The partition's error code: whether its offset is waiting on a transaction.
fn stability(broker: &Broker, require_stable: bool, group: &str, topic: &str, partition: i32) -> i16 {
    if require_stable && broker.txns.pending_offset(group, topic, partition) {
        ResponseError::UnstableOffsetCommit.code()
    } else {
        0
    }
}

fn parts(c: Option<Committed>) -> (i64, i32, Option<StrBytes>) {
    match c {
        Some(c) => (c.offset, c.leader_epoch, Some(StrBytes::from_string(c.metadata.unwrap_or_default()))),
        None => (-1, -1, Some(StrBytes::from_static_str(""))),
    }
}

pub(crate) fn handle(broker: &Broker, req: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
    if version >= 8 {
        let groups = req
            .groups
            .into_iter()
            .map(|g| {
                let wanted = g.topics.map(|ts: Vec<OffsetFetchRequestTopics>| {
                    ts.into_iter().map(|t| (t.name, t.partition_indexes)).collect()
                });
                let topics = lookup(broker, &g.group_id, wanted)
                    .into_iter()
                    .map(|(name, partitions)| {
                        let partitions = partitions
                            .into_iter()
                            .map(|(p, c)| {
                                let (offset, epoch, metadata) = parts(c);
                                OffsetFetchResponsePartitions::default()
                                    .with_error_code(stability(
                                        broker,
                                        req.require_stable,
                                        &g.group_id,
                                        &name,
                                        p,
                                    ))
                                    .with_partition_index(p)
                                    .with_committed_offset(offset)
                                    .with_committed_leader_epoch(epoch)
                                    .with_metadata(metadata)
                            })
                            .collect();
                        OffsetFetchResponseTopics::default().with_name(name).with_partitions(partitions)
                    })
                    .collect();
                OffsetFetchResponseGroup::default().with_group_id(GroupId(g.group_id.0)).with_topics(topics)
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let wanted = req.topics.map(|ts| ts.into_iter().map(|t| (t.name, t.partition_indexes)).collect());
    let topics = lookup(broker, &req.group_id, wanted)
        .into_iter()
        .map(|(name, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(p, c)| {
                    let (offset, epoch, metadata) = parts(c);
                    OffsetFetchResponsePartition::default()
                        .with_error_code(stability(broker, req.require_stable, &req.group_id, &name, p))
                        .with_partition_index(p)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(if version >= 5 { epoch } else { -1 })
                        .with_metadata(metadata)
                })
                .collect();
            OffsetFetchResponseTopic::default().with_name(name).with_partitions(partitions)
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}

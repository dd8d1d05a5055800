//! OffsetCommit: durable in the offsets stream before it is acknowledged.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{ApiKey, OffsetCommitRequest, OffsetCommitResponse};
use kafka_protocol::protocol::VersionRange;

use crate::Broker;
use crate::error::kafka_error;
use crate::group::Committed;

pub(crate) const KEY: ApiKey = ApiKey::OffsetCommit;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 2, max: 9 };

pub(crate) async fn handle(broker: &Broker, req: OffsetCommitRequest) -> OffsetCommitResponse {
    let group = req.group_id.to_string();
    let mut verdict = broker.check_commit(&group, req.generation_id_or_member_epoch, &req.member_id);
    // Partition counts, looked up once: what is committed and what is answered agree.
    let counts: Vec<usize> = req
        .topics
        .iter()
        .map(|t| broker.topic(&t.name).map(|topic| topic.streams.len()).unwrap_or(0))
        .collect();
    let mut offsets = Vec::new();
    for (t, &partitions) in req.topics.iter().zip(&counts) {
        for p in &t.partitions {
            if usize::try_from(p.partition_index).is_ok_and(|i| i < partitions) {
                offsets.push((
                    t.name.to_string(),
                    p.partition_index,
                    Some(Committed {
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                    }),
                ));
            }
        }
    }
    if verdict.is_ok() && !offsets.is_empty() {
        verdict = broker.groups.commit(&group, offsets, false).await.map_err(|e| kafka_error(&e));
    }
    let topics = req
        .topics
        .into_iter()
        .zip(counts)
        .map(|(t, partitions)| {
            let results = t
                .partitions
                .iter()
                .map(|p| {
                    let code = if !usize::try_from(p.partition_index).is_ok_and(|i| i < partitions) {
                        ResponseError::UnknownTopicOrPartition.code()
                    } else {
                        verdict.err().map(|e| e.code()).unwrap_or(0)
                    };
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetCommitResponseTopic::default().with_name(t.name).with_partitions(results)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

//! TxnOffsetCommit: offsets committed inside a transaction; the group sees them only if
//! the transaction commits.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{ApiKey, TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use kafka_protocol::protocol::VersionRange;

use super::init_producer_id::fenced;
use crate::Broker;
use crate::group::Committed;
use crate::txn::Caller;

pub(crate) const KEY: ApiKey = ApiKey::TxnOffsetCommit;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 0, max: 3 };

pub(crate) async fn handle(
    broker: &Broker,
    req: TxnOffsetCommitRequest,
    version: i16,
) -> TxnOffsetCommitResponse {
    let group = req.group_id.to_string();
    let partitions: Vec<usize> =
        req.topics.iter().map(|t| broker.topic(&t.name).map(|t| t.streams.len()).unwrap_or(0)).collect();
    let known = |p: i32, count: usize| usize::try_from(p).is_ok_and(|i| i < count);
    let mut offsets = Vec::new();
    for (t, &count) in req.topics.iter().zip(&partitions) {
        for p in t.partitions.iter().filter(|p| known(p.partition_index, count)) {
            offsets.push((
                t.name.to_string(),
                p.partition_index,
                Committed {
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                },
            ));
        }
    }
    // v3 names the member: a consumer that lost its place in the group must not commit.
    let mut verdict = if version >= 3 && !req.member_id.is_empty() {
        broker.check_commit(&group, req.generation_id, &req.member_id)
    } else {
        Ok(())
    };
    if verdict.is_ok() && !offsets.is_empty() {
        let caller =
            Caller { producer_id: req.producer_id.0, epoch: req.producer_epoch, fenced: fenced(version, 3) };
        verdict = broker.txns.commit_offsets(&req.transactional_id, caller, &group, offsets).await;
    }
    let topics = req
        .topics
        .into_iter()
        .zip(partitions)
        .map(|(t, count)| {
            let results = t
                .partitions
                .iter()
                .map(|p| {
                    let code = if !known(p.partition_index, count) {
                        ResponseError::UnknownTopicOrPartition.code()
                    } else {
                        verdict.err().map_or(0, |e| e.code())
                    };
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            TxnOffsetCommitResponseTopic::default().with_name(t.name).with_partitions(results)
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}

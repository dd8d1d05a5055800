//! OffsetDelete: forgets committed offsets of partitions no member is consuming.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{ApiKey, OffsetDeleteRequest, OffsetDeleteResponse};
use kafka_protocol::protocol::VersionRange;

use crate::Broker;
use crate::error::kafka_error;

pub(crate) const KEY: ApiKey = ApiKey::OffsetDelete;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 0, max: 0 };

pub(crate) async fn handle(broker: &Broker, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
    if !broker.groups.has_offsets(&req.group_id) {
        return OffsetDeleteResponse::default().with_error_code(ResponseError::GroupIdNotFound.code());
    }
    // A stable group's members may be consuming these partitions: Kafka refuses then.
    if broker.groups.groups().get(req.group_id.as_str()).is_some_and(|g| !g.members.is_empty()) {
        return OffsetDeleteResponse::default().with_error_code(ResponseError::NonEmptyGroup.code());
    }
    let doomed = req
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.to_string(), p.partition_index, None)))
        .collect();
    let code = match broker.groups.commit(&req.group_id, doomed, false).await {
        Ok(()) => 0,
        Err(e) => kafka_error(&e).code(),
    };
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetDeleteResponseTopic::default().with_name(t.name).with_partitions(partitions)
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}

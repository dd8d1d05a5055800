//! SyncGroup: the leader hands out assignments; every member waits for its own.

use kafka_protocol::messages::{ApiKey, SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::VersionRange;

use crate::Broker;

pub(crate) const KEY: ApiKey = ApiKey::SyncGroup;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 0, max: 5 };

pub(crate) async fn handle(broker: &Broker, req: SyncGroupRequest, version: i16) -> SyncGroupResponse {
    let assignments = req.assignments.into_iter().map(|a| (a.member_id.to_string(), a.assignment)).collect();
    let outcome = broker.groups.sync(&req.group_id, req.generation_id, &req.member_id, assignments).await;
    let response = SyncGroupResponse::default();
    let response = if version >= 5 {
        response.with_protocol_type(req.protocol_type).with_protocol_name(req.protocol_name)
    } else {
        response
    };
    match outcome {
        Ok(assignment) => response.with_assignment(assignment),
        Err(code) => response.with_error_code(code.code()),
    }
}

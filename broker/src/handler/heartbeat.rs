//! Heartbeat: keeps a member alive and tells it when to rejoin.

use kafka_protocol::messages::{ApiKey, HeartbeatRequest, HeartbeatResponse};
use kafka_protocol::protocol::VersionRange;

use crate::Broker;

pub(crate) const KEY: ApiKey = ApiKey::Heartbeat;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 0, max: 4 };

pub(crate) fn handle(broker: &Broker, req: HeartbeatRequest) -> HeartbeatResponse {
    match broker.groups.heartbeat(&req.group_id, req.generation_id, &req.member_id) {
        Ok(()) => HeartbeatResponse::default(),
        Err(code) => HeartbeatResponse::default().with_error_code(code.code()),
    }
}

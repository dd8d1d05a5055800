//! LeaveGroup: one member (v0-2) or several (v3+) leave; the rest rebalance.

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{ApiKey, LeaveGroupRequest, LeaveGroupResponse};
use kafka_protocol::protocol::VersionRange;

use crate::Broker;

pub(crate) const KEY: ApiKey = ApiKey::LeaveGroup;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 0, max: 5 };

pub(crate) fn handle(broker: &Broker, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
    if version < 3 {
        let results = broker.groups.leave(&req.group_id, &[req.member_id.to_string()]);
        let code = results.into_iter().find_map(Result::err).map(|e| e.code()).unwrap_or(0);
        return LeaveGroupResponse::default().with_error_code(code);
    }
    let ids: Vec<String> = req.members.iter().map(|m| m.member_id.to_string()).collect();
    let results = broker.groups.leave(&req.group_id, &ids);
    let members = req
        .members
        .into_iter()
        .zip(results)
        .map(|(m, r)| {
            MemberResponse::default()
                .with_member_id(m.member_id)
                .with_group_instance_id(m.group_instance_id)
                .with_error_code(r.err().map(|e| e.code()).unwrap_or(0))
        })
        .collect();
    LeaveGroupResponse::default().with_members(members)
}

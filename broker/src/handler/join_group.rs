//! JoinGroup: waits until the group's join phase completes.

use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{ApiKey, JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use crate::Broker;
use crate::group::JoinRequest;

pub(crate) const KEY: ApiKey = ApiKey::JoinGroup;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 0, max: 9 };

fn millis(ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

pub(crate) async fn handle(
    broker: &Broker,
    req: JoinGroupRequest,
    version: i16,
    client_id: String,
    client_host: String,
) -> JoinGroupResponse {
    let session = millis(req.session_timeout_ms);
    let rebalance = if version >= 1 { millis(req.rebalance_timeout_ms) } else { session };
    let join = JoinRequest {
        group: req.group_id.to_string(),
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.map(|s| s.to_string()),
        client_id,
        client_host,
        session_timeout: session,
        rebalance_timeout: rebalance,
        protocol_type: req.protocol_type.to_string(),
        protocols: req.protocols.into_iter().map(|p| (p.name.to_string(), p.metadata)).collect(),
        requires_known_member: version >= 4,
    };
    let s = |v: String| StrBytes::from_string(v);
    // A KIP-848 group of that name is active: the two protocols do not mix.
    let joined = if broker.consumer_groups.has_members(&join.group) {
        Err(ResponseError::InconsistentGroupProtocol)
    } else {
        broker.groups.join(join).await
    };
    match joined {
        Ok(joined) if joined.generation < 0 => JoinGroupResponse::default()
            .with_error_code(ResponseError::MemberIdRequired.code())
            .with_generation_id(-1)
            .with_member_id(s(joined.member_id)),
        Ok(joined) => JoinGroupResponse::default()
            .with_generation_id(joined.generation)
            .with_protocol_type((version >= 7).then(|| s(joined.protocol_type)))
            .with_protocol_name(Some(s(joined.protocol)))
            .with_leader(s(joined.leader))
            .with_member_id(s(joined.member_id))
            .with_members(
                joined
                    .members
                    .into_iter()
                    .map(|(id, instance, metadata)| {
                        JoinGroupResponseMember::default()
                            .with_member_id(s(id))
                            .with_group_instance_id(instance.filter(|_| version >= 5).map(s))
                            .with_metadata(metadata)
                    })
                    .collect(),
            ),
        Err(code) => JoinGroupResponse::default()
            .with_error_code(code.code())
            .with_generation_id(-1)
            .with_member_id(req.member_id),
    }
}

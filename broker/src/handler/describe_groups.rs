//! DescribeGroups: state, protocol and members of each group.

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{ApiKey, DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use crate::Broker;
use crate::group::Phase;

pub(crate) const KEY: ApiKey = ApiKey::DescribeGroups;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 0, max: 5 };

pub(crate) fn handle(broker: &Broker, req: DescribeGroupsRequest, version: i16) -> DescribeGroupsResponse {
    let s = |v: &str| StrBytes::from_string(v.to_string());
    let groups = broker.groups.groups();
    let described = req
        .groups
        .into_iter()
        .map(|id| {
            let Some(g) = groups.get(id.as_str()) else {
                let state = if broker.groups.has_offsets(&id) { "Empty" } else { "Dead" };
                return DescribedGroup::default().with_group_id(id).with_group_state(s(state));
            };
            let protocol = g.protocol.clone().unwrap_or_default();
            let members = g
                .members
                .iter()
                .map(|(member_id, m)| {
                    let metadata = m
                        .protocols
                        .iter()
                        .find(|(n, _)| *n == protocol)
                        .map(|(_, b)| b.clone())
                        .unwrap_or_default();
                    DescribedGroupMember::default()
                        .with_member_id(s(member_id))
                        .with_group_instance_id(m.instance_id.as_deref().filter(|_| version >= 4).map(s))
                        .with_client_id(s(&m.client_id))
                        .with_client_host(s(&m.client_host))
                        .with_member_metadata(metadata)
                        .with_member_assignment(m.assignment.clone())
                })
                .collect();
            DescribedGroup::default()
                .with_group_id(id)
                .with_group_state(s(g.phase.name()))
                .with_protocol_type(s(g.protocol_type.as_deref().unwrap_or_default()))
                .with_protocol_data(s(if g.phase == Phase::Stable { &protocol } else { "" }))
                .with_members(members)
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(described)
}

//! ListGroups: every group, classic or KIP-848, with members or committed offsets.

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{ApiKey, GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use crate::Broker;

pub(crate) const KEY: ApiKey = ApiKey::ListGroups;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 0, max: 4 };

pub(crate) fn handle(broker: &Broker, req: ListGroupsRequest, version: i16) -> ListGroupsResponse {
    let mut ids = broker.groups.group_ids();
    ids.extend(broker.consumer_groups.groups().keys().cloned());
    ids.sort();
    ids.dedup();
    let groups = ids.into_iter().filter_map(|id| {
        let kip848 = broker.consumer_groups.groups().get(&id).map(|g| g.state().to_string());
        let (state, protocol_type) = match (kip848, broker.groups.groups().get(&id)) {
            (Some(state), _) => (state, "consumer".to_string()),
            (None, Some(g)) => (g.phase.name().to_string(), g.protocol_type.clone().unwrap_or_default()),
            (None, None) => ("Empty".to_string(), "consumer".to_string()),
        };
        let wanted =
            req.states_filter.is_empty() || req.states_filter.iter().any(|f| f.eq_ignore_ascii_case(&state));
        wanted.then(|| {
            ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(id)))
                .with_protocol_type(StrBytes::from_string(protocol_type))
                .with_group_state(StrBytes::from_string(if version >= 4 { state } else { String::new() }))
        })
    });
    ListGroupsResponse::default().with_groups(groups.collect())
}

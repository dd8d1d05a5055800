//! ConsumerGroupDescribe (KIP-848): members, their partitions and where they are going.

use std::collections::BTreeSet;

use floe_stream::meta::State;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{
    ApiKey, ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, TopicName,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use crate::Broker;
use crate::consumer_group::Partition;

pub(crate) const KEY: ApiKey = ApiKey::ConsumerGroupDescribe;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 0, max: 1 };

fn assignment(partitions: &BTreeSet<Partition>, state: &State) -> Assignment {
    let mut topics: Vec<TopicPartitions> = Vec::new();
    for &(id, p) in partitions {
        match topics.last_mut() {
            Some(t) if t.topic_id == id => t.partitions.push(p),
            _ => {
                let name =
                    state.topics.values().find(|t| t.id == id).map(|t| t.name.clone()).unwrap_or_default();
                topics.push(
                    TopicPartitions::default()
                        .with_topic_id(id)
                        .with_topic_name(TopicName(StrBytes::from_string(name)))
                        .with_partitions(vec![p]),
                );
            }
        }
    }
    Assignment::default().with_topic_partitions(topics)
}

pub(crate) fn handle(
    broker: &Broker,
    req: ConsumerGroupDescribeRequest,
    version: i16,
) -> ConsumerGroupDescribeResponse {
    let state = broker.engine.meta().state();
    let groups = broker.consumer_groups.groups();
    let s = |v: &str| StrBytes::from_string(v.to_string());
    let described = req
        .group_ids
        .into_iter()
        .map(|id| {
            let Some(g) = groups.get(id.as_str()) else {
                return DescribedGroup::default()
                    .with_group_id(id)
                    .with_error_code(ResponseError::GroupIdNotFound.code())
                    .with_group_state(s("Dead"));
            };
            let members = g
                .members
                .iter()
                .map(|(member_id, m)| {
                    Member::default()
                        .with_member_id(s(member_id))
                        .with_instance_id(m.instance_id.as_deref().map(s))
                        .with_rack_id(m.rack_id.as_deref().map(s))
                        .with_member_epoch(m.epoch)
                        .with_client_id(s(&m.client_id))
                        .with_client_host(s(&m.client_host))
                        .with_subscribed_topic_names(m.subscribed.iter().map(|t| TopicName(s(t))).collect())
                        .with_assignment(assignment(&m.assigned, &state))
                        .with_target_assignment(assignment(&g.target_of(member_id), &state))
                        // 1: a member speaking the consumer protocol (KIP-1099)
                        .with_member_type(if version >= 1 { 1 } else { -1 })
                })
                .collect();
            DescribedGroup::default()
                .with_group_id(id)
                .with_group_state(s(g.state()))
                .with_group_epoch(g.epoch)
                .with_assignment_epoch(g.epoch)
                .with_assignor_name(s("uniform"))
                .with_members(members)
        })
        .collect();
    ConsumerGroupDescribeResponse::default().with_groups(described)
}

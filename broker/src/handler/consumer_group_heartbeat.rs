//! ConsumerGroupHeartbeat (KIP-848): join, stay, leave, and learn one's partitions.

use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ApiKey, ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use crate::Broker;
use crate::consumer_group::Heartbeat;

pub(crate) const KEY: ApiKey = ApiKey::ConsumerGroupHeartbeat;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 0, max: 1 };

pub(crate) fn handle(
    broker: &Broker,
    req: ConsumerGroupHeartbeatRequest,
    client_id: String,
    client_host: String,
) -> ConsumerGroupHeartbeatResponse {
    let interval =
        i32::try_from(broker.consumer_groups.timings.heartbeat_interval.as_millis()).unwrap_or(i32::MAX);
    let fail = |e: ResponseError| {
        ConsumerGroupHeartbeatResponse::default()
            .with_error_code(e.code())
            .with_member_id(Some(req.member_id.clone()))
            .with_member_epoch(req.member_epoch)
            .with_heartbeat_interval_ms(interval)
    };
    let group = req.group_id.to_string();
    if group.is_empty() {
        return fail(ResponseError::InvalidRequest);
    }
    // Patterns would need Kafka's (RE2) syntax; names are what Floe takes.
    if req.subscribed_topic_regex.as_ref().is_some_and(|r| !r.is_empty()) {
        return fail(ResponseError::InvalidRegularExpression);
    }
    if req.server_assignor.as_ref().is_some_and(|a| !matches!(a.as_str(), "uniform" | "range")) {
        return fail(ResponseError::UnsupportedAssignor);
    }
    if broker.groups.groups().get(&group).is_some_and(|g| !g.members.is_empty()) {
        // A classic group of that name is active: the two protocols do not mix.
        return fail(ResponseError::GroupIdNotFound);
    }
    let hb = Heartbeat {
        group,
        member_id: req.member_id.to_string(),
        member_epoch: req.member_epoch,
        instance_id: req.instance_id.as_ref().map(|s| s.to_string()),
        rack_id: req.rack_id.as_ref().map(|s| s.to_string()),
        rebalance_timeout: Duration::from_millis(u64::try_from(req.rebalance_timeout_ms).unwrap_or(0)),
        subscribed: req
            .subscribed_topic_names
            .as_ref()
            .map(|names| names.iter().map(|n| n.to_string()).collect()),
        owned: req
            .topic_partitions
            .as_ref()
            .map(|tps| tps.iter().flat_map(|tp| tp.partitions.iter().map(|p| (tp.topic_id, *p))).collect()),
        client_id,
        client_host,
    };
    let answer = {
        let state = broker.engine.meta().state();
        broker.consumer_groups.heartbeat(hb, &state)
    };
    match answer {
        Ok(a) => {
            let assignment = a.assignment.map(|partitions| {
                let mut topics: Vec<TopicPartitions> = Vec::new();
                for (topic, p) in partitions {
                    match topics.last_mut() {
                        Some(t) if t.topic_id == topic => t.partitions.push(p),
                        _ => topics
                            .push(TopicPartitions::default().with_topic_id(topic).with_partitions(vec![p])),
                    }
                }
                Assignment::default().with_topic_partitions(topics)
            });
            ConsumerGroupHeartbeatResponse::default()
                .with_member_id(Some(StrBytes::from_string(a.member_id)))
                .with_member_epoch(a.epoch)
                .with_heartbeat_interval_ms(interval)
                .with_assignment(assignment)
        }
        Err(e) => fail(e),
    }
}

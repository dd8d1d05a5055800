//! Metadata: brokers and topics. A single broker leads every partition; the data's
//! durability comes from the object store, so every partition has one replica.

use floe_stream::meta::Topic;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{ApiKey, BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use super::valid_topic_name;
use crate::Broker;

pub(crate) const KEY: ApiKey = ApiKey::Metadata;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 0, max: 13 };

fn topic_entry(broker: &Broker, topic: &Topic, version: i16) -> MetadataResponseTopic {
    let node = BrokerId(broker.server.node_id);
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(if version >= 10 { topic.id } else { uuid::Uuid::nil() })
        .with_partitions(
            (0..topic.streams.len() as i32)
                .map(|p| {
                    MetadataResponsePartition::default()
                        .with_partition_index(p)
                        .with_leader_id(node)
                        .with_leader_epoch(if version >= 7 { 0 } else { -1 })
                        .with_replica_nodes(vec![node])
                        .with_isr_nodes(vec![node])
                })
                .collect(),
        )
}

fn missing(name: Option<TopicName>, topic_id: uuid::Uuid, error: ResponseError) -> MetadataResponseTopic {
    // topic_id is only non-nil when the client sent one, i.e. on versions that carry it.
    MetadataResponseTopic::default().with_name(name).with_topic_id(topic_id).with_error_code(error.code())
}

pub(crate) async fn handle(broker: &Broker, req: MetadataRequest, version: i16) -> MetadataResponse {
    // v0 asks for every topic with an empty list; later versions with a null one.
    let wanted = match req.topics {
        Some(list) if !(version == 0 && list.is_empty()) => Some(list),
        _ => None,
    };
    let auto_create = broker.server.auto_create_topics && (version < 4 || req.allow_auto_topic_creation);
    let topics = match wanted {
        None => broker
            .engine
            .meta()
            .state()
            .topics
            .values()
            .filter(|t| valid_topic_name(&t.name))
            .map(|t| topic_entry(broker, t, version))
            .collect(),
        Some(list) => {
            let mut out = Vec::with_capacity(list.len());
            for want in list {
                let found = match &want.name {
                    Some(name) => broker.topic(name),
                    None => broker.topic_by_id(want.topic_id),
                };
                let entry = match (found, want.name) {
                    (Some(topic), _) => topic_entry(broker, &topic, version),
                    (None, Some(name)) if !valid_topic_name(&name) => {
                        missing(Some(name), want.topic_id, ResponseError::InvalidTopicException)
                    }
                    (None, Some(name)) if auto_create => match broker.auto_create(&name).await {
                        Ok(topic) => topic_entry(broker, &topic, version),
                        Err(e) => missing(Some(name), want.topic_id, crate::error::kafka_error(&e)),
                    },
                    (None, Some(name)) => {
                        missing(Some(name), want.topic_id, ResponseError::UnknownTopicOrPartition)
                    }
                    (None, None) => missing(None, want.topic_id, ResponseError::UnknownTopicId),
                };
                out.push(entry);
            }
            out
        }
    };
    let node = BrokerId(broker.server.node_id);
    MetadataResponse::default()
        .with_brokers(vec![
            MetadataResponseBroker::default()
                .with_node_id(node)
                .with_host(StrBytes::from_string(broker.advertised_host.clone()))
                .with_port(broker.advertised_port)
                .with_rack(broker.server.rack.clone().filter(|_| version >= 1).map(StrBytes::from_string)),
        ])
        .with_cluster_id((version >= 2).then(|| StrBytes::from_string(broker.server.cluster_id.clone())))
        .with_controller_id(if version >= 1 { node } else { BrokerId(-1) })
        .with_topics(topics)
}

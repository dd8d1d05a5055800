//! CreateTopics.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::{ApiKey, CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::VersionRange;

use super::{message, valid_topic_name};
use crate::Broker;
use crate::error::kafka_error;
use crate::topic_config;

pub(crate) const KEY: ApiKey = ApiKey::CreateTopics;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 2, max: 7 };

pub(crate) async fn handle(broker: &Broker, req: CreateTopicsRequest, version: i16) -> CreateTopicsResponse {
    let mut results = Vec::with_capacity(req.topics.len());
    for topic in req.topics {
        let name = topic.name.to_string();
        let partitions = match (topic.num_partitions, topic.assignments.len()) {
            (-1, 0) => Ok(broker.server.default_partitions),
            (-1, n) => Ok(n as u32),
            (n, _) if n > 0 => Ok(n as u32),
            (n, _) => Err(format!("{n} partitions")),
        };
        let configs: BTreeMap<String, String> = topic
            .configs
            .iter()
            .filter_map(|c| c.value.as_ref().map(|v| (c.name.to_string(), v.to_string())))
            .collect();
        let mut result = CreatableTopicResult::default().with_name(topic.name.clone());
        let outcome = if !valid_topic_name(&name) {
            Err((ResponseError::InvalidTopicException, format!("invalid topic name {name:?}")))
        } else if let Err(why) = topic_config::check_all(&configs) {
            Err((ResponseError::InvalidConfig, why))
        } else if topic.replication_factor == 0 || topic.replication_factor < -1 {
            Err((ResponseError::InvalidReplicationFactor, "replication factor must be positive or -1".into()))
        } else {
            match partitions {
                Err(why) => Err((ResponseError::InvalidPartitions, why)),
                Ok(_) if req.validate_only && broker.topic(&name).is_some() => {
                    Err((ResponseError::TopicAlreadyExists, format!("topic {name} already exists")))
                }
                Ok(n) if req.validate_only => Ok(n),
                Ok(n) => broker
                    .engine
                    .create_topic(&name, n, configs)
                    .await
                    .map(|t| {
                        if version >= 7 {
                            result.topic_id = t.id;
                        }
                        n
                    })
                    .map_err(|e| (kafka_error(&e), e.to_string())),
            }
        };
        match outcome {
            Ok(n) => {
                if version >= 5 {
                    result = result
                        .with_num_partitions(n as i32)
                        .with_replication_factor(1)
                        .with_configs(Some(Vec::new()));
                }
            }
            Err((code, text)) => {
                result = result.with_error_code(code.code()).with_error_message(message(text));
            }
        }
        results.push(result);
    }
    CreateTopicsResponse::default().with_topics(results)
}

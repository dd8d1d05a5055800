//! DescribeConfigs: a topic's settings, set or default; the broker's, read-only.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{ApiKey, DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use super::{BROKER_RESOURCE, TOPIC_RESOURCE, message};
use crate::Broker;
use crate::topic_config;

pub(crate) const KEY: ApiKey = ApiKey::DescribeConfigs;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 1, max: 4 };

/// Kafka's config sources.
const TOPIC_CONFIG: i8 = 1;
const DEFAULT_CONFIG: i8 = 5;

pub(crate) fn handle(broker: &Broker, req: DescribeConfigsRequest, version: i16) -> DescribeConfigsResponse {
    let results = req
        .resources
        .into_iter()
        .map(|r| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            // null (or, leniently, an empty list) asks for every setting
            let wanted = |name: &str| {
                r.configuration_keys
                    .as_ref()
                    .is_none_or(|keys| keys.is_empty() || keys.iter().any(|k| k.as_str() == name))
            };
            match r.resource_type {
                TOPIC_RESOURCE => match broker.topic(&r.resource_name) {
                    None => result
                        .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                        .with_error_message(message(format!("no topic {}", r.resource_name.as_str()))),
                    Some(topic) => result.with_configs(
                        topic_config::describe(&topic.configs)
                            .into_iter()
                            .filter(|d| wanted(d.name))
                            .map(|d| {
                                DescribeConfigsResourceResult::default()
                                    .with_name(StrBytes::from_static_str(d.name))
                                    .with_value(Some(StrBytes::from_string(d.value)))
                                    .with_config_source(if d.is_set { TOPIC_CONFIG } else { DEFAULT_CONFIG })
                                    .with_config_type(if version >= 3 { d.type_code } else { 0 })
                            })
                            .collect(),
                    ),
                },
                BROKER_RESOURCE
                    if r.resource_name.is_empty()
                        || r.resource_name.as_str() == broker.server.node_id.to_string() =>
                {
                    result
                }
                _ => result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(message("only topic and this broker's resources are described")),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

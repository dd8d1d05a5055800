//! AlterConfigs (replace a topic's settings whole) and IncrementalAlterConfigs (set,
//! delete, append to or subtract from single settings). Both validate every value first.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, ApiKey, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse, alter_configs_response, incremental_alter_configs_response,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use super::{TOPIC_RESOURCE, message};
use crate::Broker;
use crate::error::kafka_error;
use crate::topic_config;

pub(crate) const KEY: ApiKey = ApiKey::AlterConfigs;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 0, max: 2 };
pub(crate) const INCREMENTAL_KEY: ApiKey = ApiKey::IncrementalAlterConfigs;
pub(crate) const INCREMENTAL_VERSIONS: VersionRange = VersionRange { min: 0, max: 1 };

type Outcome = Result<(), (ResponseError, String)>;

/// Works out a topic's new settings with `edit`, checks them, and stores them.
async fn alter(
    broker: &Broker,
    resource_type: i8,
    name: &StrBytes,
    validate_only: bool,
    edit: impl FnOnce(&mut BTreeMap<String, String>) -> Outcome,
) -> Outcome {
    if resource_type != TOPIC_RESOURCE {
        return Err((ResponseError::InvalidRequest, "only topic configs can be altered".into()));
    }
    let topic = broker
        .topic(name)
        .ok_or_else(|| (ResponseError::UnknownTopicOrPartition, format!("no topic {}", name.as_str())))?;
    let mut configs = topic.configs.clone();
    edit(&mut configs)?;
    topic_config::check_all(&configs).map_err(|e| (ResponseError::InvalidConfig, e))?;
    if validate_only {
        return Ok(());
    }
    broker.engine.set_topic_configs(&topic.name, configs).await.map_err(|e| (kafka_error(&e), e.to_string()))
}

fn codes(outcome: Outcome) -> (i16, Option<StrBytes>) {
    match outcome {
        Ok(()) => (0, None),
        Err((code, text)) => (code.code(), message(text)),
    }
}

pub(crate) async fn handle(broker: &Broker, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let mut responses = Vec::with_capacity(req.resources.len());
    for r in req.resources {
        let given: BTreeMap<String, String> = r
            .configs
            .iter()
            .filter_map(|c| c.value.as_ref().map(|v| (c.name.to_string(), v.to_string())))
            .collect();
        let outcome = alter(broker, r.resource_type, &r.resource_name, req.validate_only, |configs| {
            *configs = given;
            Ok(())
        })
        .await;
        let (code, text) = codes(outcome);
        responses.push(
            alter_configs_response::AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(text)
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name),
        );
    }
    AlterConfigsResponse::default().with_responses(responses)
}

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

pub(crate) async fn handle_incremental(
    broker: &Broker,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(req.resources.len());
    for r in req.resources {
        let ops: Vec<(String, i8, Option<String>)> = r
            .configs
            .iter()
            .map(|c| (c.name.to_string(), c.config_operation, c.value.as_ref().map(|v| v.to_string())))
            .collect();
        let outcome = alter(broker, r.resource_type, &r.resource_name, req.validate_only, |configs| {
            for (name, op, value) in ops {
                let list = |configs: &BTreeMap<String, String>| -> Vec<String> {
                    configs
                        .get(&name)
                        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
                        .unwrap_or_default()
                };
                match (op, value) {
                    (SET, Some(v)) => {
                        configs.insert(name, v);
                    }
                    (DELETE, _) => {
                        configs.remove(&name);
                    }
                    (APPEND, Some(v)) => {
                        let mut items = list(configs);
                        items.extend(
                            v.split(',')
                                .map(|s| s.trim().to_string())
                                .filter(|s| !items.contains(s))
                                .collect::<Vec<_>>(),
                        );
                        configs.insert(name, items.join(","));
                    }
                    (SUBTRACT, Some(v)) => {
                        let gone: Vec<&str> = v.split(',').map(str::trim).collect();
                        let items: Vec<String> =
                            list(configs).into_iter().filter(|i| !gone.contains(&i.as_str())).collect();
                        configs.insert(name, items.join(","));
                    }
                    (op, _) => {
                        return Err((
                            ResponseError::InvalidConfig,
                            format!("operation {op} on {name} needs a value"),
                        ));
                    }
                }
            }
            Ok(())
        })
        .await;
        let (code, text) = codes(outcome);
        responses.push(
            incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(text)
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name),
        );
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

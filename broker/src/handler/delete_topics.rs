//! DeleteTopics, by name (v1-5) or by name or id (v6).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{ApiKey, DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use super::message;
use crate::Broker;
use crate::error::kafka_error;

pub(crate) const KEY: ApiKey = ApiKey::DeleteTopics;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 1, max: 6 };

pub(crate) async fn handle(broker: &Broker, req: DeleteTopicsRequest, version: i16) -> DeleteTopicsResponse {
    let wanted: Vec<(Option<String>, uuid::Uuid)> = req
        .topic_names
        .iter()
        .map(|n| (Some(n.to_string()), uuid::Uuid::nil()))
        .chain(req.topics.iter().map(|t| (t.name.as_ref().map(|n| n.to_string()), t.topic_id)))
        .collect();
    let mut responses = Vec::with_capacity(wanted.len());
    for (name, id) in wanted {
        let topic = match &name {
            Some(name) => broker.topic(name),
            None => broker.topic_by_id(id),
        };
        let mut result = DeletableTopicResult::default()
            .with_name(name.clone().map(|n| TopicName(StrBytes::from_string(n))))
            .with_topic_id(id);
        match topic {
            None => {
                let code = if name.is_some() {
                    ResponseError::UnknownTopicOrPartition
                } else {
                    ResponseError::UnknownTopicId
                };
                result = result.with_error_code(code.code());
            }
            Some(topic) => {
                result.name = Some(TopicName(StrBytes::from_string(topic.name.clone())));
                if version >= 6 {
                    result.topic_id = topic.id;
                }
                if let Err(e) = broker.engine.delete_topic(&topic.name).await {
                    result = result.with_error_code(kafka_error(&e).code());
                    if version >= 5 {
                        result.error_message = message(e.to_string());
                    }
                }
            }
        }
        responses.push(result);
    }
    DeleteTopicsResponse::default().with_responses(responses)
}

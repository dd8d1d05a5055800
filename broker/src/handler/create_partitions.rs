//! CreatePartitions: a topic grows new streams; it never shrinks.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{ApiKey, CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::VersionRange;

use super::message;
use crate::Broker;
use crate::error::kafka_error;

pub(crate) const KEY: ApiKey = ApiKey::CreatePartitions;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 0, max: 3 };

pub(crate) async fn handle(broker: &Broker, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let mut results = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let outcome = match broker.topic(&t.name) {
            None => Err((ResponseError::UnknownTopicOrPartition, format!("no topic {}", t.name.as_str()))),
            Some(topic) if usize::try_from(t.count).map_or(true, |c| c <= topic.streams.len()) => Err((
                ResponseError::InvalidPartitions,
                format!(
                    "topic has {} partitions; the new count must be larger, not {}",
                    topic.streams.len(),
                    t.count
                ),
            )),
            Some(_) if req.validate_only => Ok(()),
            Some(topic) => broker
                .engine
                .add_partitions(&topic.name, t.count as u32)
                .await
                .map_err(|e| (kafka_error(&e), e.to_string())),
        };
        let result = CreatePartitionsTopicResult::default().with_name(t.name);
        results.push(match outcome {
            Ok(()) => result,
            Err((code, text)) => result.with_error_code(code.code()).with_error_message(message(text)),
        });
    }
    CreatePartitionsResponse::default().with_results(results)
}

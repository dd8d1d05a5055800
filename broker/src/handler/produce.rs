//! Produce: checks each partition's batches and queues them for the WAL in request
//! order (so pipelined requests on one connection keep their order, as Kafka promises),
//! then answers once they are durable. acks=1 and acks=all both wait for the object
//! store: there is no weaker durability point to offer.

use std::future::Future;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::VersionRange;

use super::message;
use crate::Broker;
use crate::batch;
use crate::error::kafka_error;

pub(crate) const KEY: ApiKey = ApiKey::Produce;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 3, max: 13 };

type Failure = (ResponseError, String);

fn partition_response(
    index: i32,
    outcome: Result<(u64, u64), Failure>,
    version: i16,
) -> PartitionProduceResponse {
    let r = PartitionProduceResponse::default().with_index(index).with_log_append_time_ms(-1);
    match outcome {
        Ok((base, start)) => r.with_base_offset(base as i64).with_log_start_offset(if version >= 5 {
            start as i64
        } else {
            -1
        }),
        Err((code, text)) => r
            .with_error_code(code.code())
            .with_base_offset(-1)
            .with_error_message(if version >= 8 { message(text) } else { None }),
    }
}

/// A transactional append must come from its transaction's current producer, into a
/// partition the transaction holds; otherwise its records could escape the markers.
fn check_transaction(broker: &Broker, stream: u64, parsed: &batch::Parsed) -> Result<(), Failure> {
    match parsed.producer {
        Some(p) if parsed.transactional => broker
            .txns
            .check_append(p.id, p.epoch, stream)
            .map_err(|code| (code, "not part of the producer's open transaction".to_string())),
        _ => Ok(()),
    }
}

/// Queues the request's batches; the returned future resolves to the response, or to
/// `None` when the producer wants none (acks=0).
pub(crate) async fn submit(
    broker: &Arc<Broker>,
    req: ProduceRequest,
    version: i16,
) -> impl Future<Output = Option<ProduceResponse>> + Send + 'static {
    let acks_ok = matches!(req.acks, -1..=1);
    let mut topics: Vec<(TopicName, uuid::Uuid, Vec<_>)> = Vec::with_capacity(req.topic_data.len());
    for topic in req.topic_data {
        let found = if topic.name.is_empty() {
            broker.topic_by_id(topic.topic_id)
        } else {
            broker.topic(&topic.name)
        };
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for p in topic.partition_data {
            let stream = found
                .as_ref()
                .and_then(|t| usize::try_from(p.index).ok().and_then(|i| t.streams.get(i)).copied());
            let checked = match (acks_ok, stream, p.records) {
                (false, _, _) => Err((ResponseError::InvalidRequiredAcks, format!("acks={}", req.acks))),
                (_, None, _) => {
                    Err((ResponseError::UnknownTopicOrPartition, "no such topic or partition".into()))
                }
                (_, Some(_), None) => Err((ResponseError::InvalidRecord, "no records".into())),
                (_, Some(stream), Some(records)) => {
                    let size = records.len() as u64;
                    batch::parse(records)
                        .map_err(|code| (code, "record batch rejected".to_string()))
                        .and_then(|parsed| check_transaction(broker, stream, &parsed).map(|()| parsed))
                        .map(|parsed| (stream, parsed, size))
                }
            };
            let queued = match checked {
                Err(failure) => Err(failure),
                Ok((stream, parsed, size)) => {
                    match broker.engine.submit(stream, parsed.batches, parsed.producer).await {
                        Ok(submitted) => {
                            broker.metrics.bytes_in.inc_by(size);
                            Ok((stream, submitted))
                        }
                        Err(e) => Err((kafka_error(&e), e.to_string())),
                    }
                }
            };
            partitions.push((p.index, queued));
        }
        topics.push((topic.name, topic.topic_id, partitions));
    }
    let engine = broker.engine.clone();
    let acks = req.acks;
    async move {
        let mut responses = Vec::with_capacity(topics.len());
        for (name, topic_id, partitions) in topics {
            let mut out = Vec::with_capacity(partitions.len());
            for (index, queued) in partitions {
                let outcome = match queued {
                    Err(failure) => Err(failure),
                    Ok((stream, submitted)) => submitted
                        .durable()
                        .await
                        .and_then(|base| Ok((base, engine.bounds(stream)?.0)))
                        .map_err(|e| (kafka_error(&e), e.to_string())),
                };
                if let Err((code, text)) = &outcome {
                    tracing::debug!(topic = %name.as_str(), index, ?code, text, "produce rejected");
                }
                out.push(partition_response(index, outcome, version));
            }
            responses.push(
                TopicProduceResponse::default()
                    .with_name(name)
                    .with_topic_id(topic_id)
                    .with_partition_responses(out),
            );
        }
        (acks != 0).then(|| ProduceResponse::default().with_responses(responses))
    }
}

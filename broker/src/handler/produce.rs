//! Produce: checks each partition's batches, appends them through the engine (all
//! partitions at once, so they share WAL windows), and answers once they are durable.
//! acks=1 and acks=all both wait for the object store: there is no weaker durability
//! point to offer.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::VersionRange;

use super::message;
use crate::Broker;
use crate::batch;
use crate::error::kafka_error;

pub(crate) const KEY: ApiKey = ApiKey::Produce;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 3, max: 13 };

type Outcome = Result<(u64, u64), (ResponseError, String)>;

fn partition_response(index: i32, outcome: Outcome, version: i16) -> PartitionProduceResponse {
    let r = PartitionProduceResponse::default()
        .with_index(index)
        .with_log_append_time_ms(-1);
    match outcome {
        Ok((base, start)) => r
            .with_base_offset(base as i64)
            .with_log_start_offset(if version >= 5 { start as i64 } else { -1 }),
        Err((code, text)) => r
            .with_error_code(code.code())
            .with_base_offset(-1)
            .with_error_message(if version >= 8 { message(text) } else { None }),
    }
}

/// `None` when the producer wants no answer (acks=0).
pub(crate) async fn handle(
    broker: &Broker,
    req: ProduceRequest,
    version: i16,
) -> Option<ProduceResponse> {
    let acks_ok = matches!(req.acks, -1..=1);
    let mut topics = Vec::with_capacity(req.topic_data.len());
    for topic in req.topic_data {
        let found = if topic.name.is_empty() {
            broker.topic_by_id(topic.topic_id)
        } else {
            broker.topic(&topic.name)
        };
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for p in topic.partition_data {
            let index = p.index;
            let stream = found.as_ref().and_then(|t| {
                usize::try_from(index)
                    .ok()
                    .and_then(|i| t.streams.get(i))
                    .copied()
            });
            let checked = match (acks_ok, stream, p.records) {
                (false, _, _) => Err((
                    ResponseError::InvalidRequiredAcks,
                    format!("acks={}", req.acks),
                )),
                (_, None, _) => Err((
                    ResponseError::UnknownTopicOrPartition,
                    "no such topic or partition".into(),
                )),
                (_, Some(_), None) => Err((ResponseError::InvalidRecord, "no records".into())),
                (_, Some(stream), Some(records)) => {
                    let size = records.len() as u64;
                    batch::parse(records)
                        .map(|batches| (stream, batches, size))
                        .map_err(|code| (code, "record batch rejected".to_string()))
                }
            };
            let task = checked.map(|(stream, batches, size)| {
                broker.metrics.bytes_in.inc_by(size);
                let engine = broker.engine.clone();
                tokio::spawn(async move {
                    let base = engine.append(stream, batches).await?;
                    let (start, _) = engine.bounds(stream)?;
                    Ok::<_, floe_stream::Error>((base, start))
                })
            });
            partitions.push((index, task));
        }
        topics.push((topic.name, topic.topic_id, partitions));
    }
    let mut responses = Vec::with_capacity(topics.len());
    for (name, topic_id, partitions) in topics {
        let mut out = Vec::with_capacity(partitions.len());
        for (index, task) in partitions {
            let outcome = match task {
                Err(e) => Err(e),
                Ok(handle) => match handle.await {
                    Ok(Ok(done)) => Ok(done),
                    Ok(Err(e)) => Err((kafka_error(&e), e.to_string())),
                    Err(e) => Err((ResponseError::UnknownServerError, e.to_string())),
                },
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
    (req.acks != 0).then(|| ProduceResponse::default().with_responses(responses))
}

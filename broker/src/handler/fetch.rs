//! Fetch: batches from each partition's offset on, with base offsets patched in, within
//! the request's byte limits; waits up to max.wait.ms for min.bytes to be ready. Every
//! fetch is a full one: Floe answers with session id 0, which tells clients it keeps no
//! fetch sessions (KIP-227).
//!
//! read_committed fetches stop at the last stable offset (the first offset of the
//! earliest open transaction) and list the aborted transactions in what they return.
//! The transaction state is read after the data: a transaction that ended in between
//! is then either still holding the LSO back or already listed as aborted.

use std::time::Duration;

use bytes::BytesMut;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, ProducerId};
use kafka_protocol::protocol::VersionRange;

use crate::Broker;
use crate::batch;
use crate::error::kafka_error;

pub(crate) const KEY: ApiKey = ApiKey::Fetch;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 4, max: 18 };

/// Longest wait honoured, whatever the client asks.
const MAX_WAIT: Duration = Duration::from_secs(30);

pub(crate) async fn handle(broker: &Broker, req: FetchRequest, version: i16) -> FetchResponse {
    let wait = Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0)).min(MAX_WAIT);
    let deadline = tokio::time::Instant::now() + wait;
    let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0);
    let mut commits = broker.engine.commits();
    let mut txns = broker.txns.changes();
    loop {
        commits.borrow_and_update();
        txns.borrow_and_update();
        let (response, bytes, errors) = read(broker, &req, version).await;
        if bytes >= min_bytes.max(1) || errors || tokio::time::Instant::now() >= deadline {
            broker.metrics.bytes_out.inc_by(bytes as u64);
            return response;
        }
        // Data, or a transaction ending (which moves the LSO), may make more readable.
        let changed = async {
            tokio::select! {
                r = commits.changed() => r,
                r = txns.changed() => r,
            }
        };
        match tokio::time::timeout_at(deadline, changed).await {
            Ok(Ok(())) | Err(_) => {}
            Ok(Err(_)) => return response,
        }
    }
}

/// One pass over the requested partitions: the response, its record bytes, and whether
/// any partition answered with an error (which ends a long poll at once).
async fn read(broker: &Broker, req: &FetchRequest, version: i16) -> (FetchResponse, usize, bool) {
    let mut budget = usize::try_from(req.max_bytes).unwrap_or(0);
    let mut total = 0usize;
    let mut errors = false;
    let read_committed = req.isolation_level == 1;
    let mut responses = Vec::with_capacity(req.topics.len());
    for topic in &req.topics {
        let found =
            if version >= 13 { broker.topic_by_id(topic.topic_id) } else { broker.topic(&topic.topic) };
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let mut data = PartitionData::default()
                .with_partition_index(p.partition)
                .with_aborted_transactions(read_committed.then(Vec::new));
            let stream = found
                .as_ref()
                .and_then(|t| usize::try_from(p.partition).ok().and_then(|i| t.streams.get(i)).copied());
            let Some(stream) = stream else {
                let code = if found.is_none() && version >= 13 {
                    ResponseError::UnknownTopicId
                } else {
                    ResponseError::UnknownTopicOrPartition
                };
                errors = true;
                partitions.push(data.with_error_code(code.code()).with_high_watermark(-1));
                continue;
            };
            let limit = usize::try_from(p.partition_max_bytes).unwrap_or(0).min(budget);
            let offset = u64::try_from(p.fetch_offset).unwrap_or(u64::MAX);
            // Once the response holds data, a partition with no budget left waits its
            // turn; the first batch is always returned whole (KIP-74).
            let result = if limit == 0 && total > 0 {
                Ok(Vec::new())
            } else {
                broker.engine.read(stream, offset, limit).await
            };
            match (result, broker.engine.bounds(stream)) {
                (Ok(mut batches), Ok((start, end))) => {
                    let stable = broker.txns.last_stable(stream, end);
                    if read_committed {
                        batches.retain(|b| b.base_offset < stable);
                    }
                    let mut records =
                        BytesMut::with_capacity(batches.iter().map(|b| b.batch.payload.len()).sum());
                    for b in &batches {
                        batch::put_patched(&mut records, b.base_offset, &b.batch.payload);
                    }
                    if read_committed && let Some(last) = batches.last() {
                        let to = last.base_offset + u64::from(last.batch.records);
                        let aborted = broker
                            .txns
                            .aborted(stream, offset, to)
                            .into_iter()
                            .map(|a| {
                                AbortedTransaction::default()
                                    .with_producer_id(ProducerId(a.producer_id as i64))
                                    .with_first_offset(a.first_offset as i64)
                            })
                            .collect();
                        data = data.with_aborted_transactions(Some(aborted));
                    }
                    total += records.len();
                    budget = budget.saturating_sub(records.len());
                    data = data
                        .with_high_watermark(end as i64)
                        .with_last_stable_offset(stable as i64)
                        .with_log_start_offset(if version >= 5 { start as i64 } else { -1 })
                        .with_records(Some(records.freeze()));
                }
                (Err(e), _) | (_, Err(e)) => {
                    errors = true;
                    tracing::debug!(stream, offset, error = %e, "fetch failed");
                    data = data.with_error_code(kafka_error(&e).code()).with_high_watermark(-1);
                }
            }
            partitions.push(data);
        }
        responses.push(
            FetchableTopicResponse::default()
                .with_topic(topic.topic.clone())
                .with_topic_id(topic.topic_id)
                .with_partitions(partitions),
        );
    }
    (FetchResponse::default().with_responses(responses), total, errors)
}

//! AddPartitionsToTxn (v0-3, the client form): partitions join the producer's
//! transaction before it writes to them. v4+ is the brokers' batched verification form,
//! which a single coordinator has no use for.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey};
use kafka_protocol::protocol::VersionRange;

use super::init_producer_id::fenced;
use crate::Broker;
use crate::txn::Caller;

pub(crate) const KEY: ApiKey = ApiKey::AddPartitionsToTxn;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 0, max: 3 };

pub(crate) async fn handle(
    broker: &Broker,
    req: AddPartitionsToTxnRequest,
    version: i16,
) -> AddPartitionsToTxnResponse {
    // Each partition's stream, or None for one that does not exist.
    let wanted: Vec<(String, i32, Option<u64>)> = req
        .v3_and_below_topics
        .iter()
        .flat_map(|t| {
            let topic = broker.topic(&t.name);
            t.partitions.iter().map(move |&p| {
                let stream = topic
                    .as_ref()
                    .and_then(|topic| usize::try_from(p).ok().and_then(|i| topic.streams.get(i)).copied());
                (t.name.to_string(), p, stream)
            })
        })
        .collect();
    // As in Kafka: one unknown partition and none is added; the others were not tried.
    let verdict: Result<(), ResponseError> = if wanted.iter().any(|(_, _, s)| s.is_none()) {
        Err(ResponseError::OperationNotAttempted)
    } else {
        let caller = Caller {
            producer_id: req.v3_and_below_producer_id.0,
            epoch: req.v3_and_below_producer_epoch,
            fenced: fenced(version, 2),
        };
        let partitions = wanted.iter().filter_map(|(t, p, s)| s.map(|s| (t.clone(), *p, s))).collect();
        broker.txns.add_partitions(&req.v3_and_below_transactional_id, caller, partitions).await
    };
    let mut results: Vec<AddPartitionsToTxnTopicResult> = Vec::new();
    for (topic, partition, stream) in wanted {
        let code = match (stream, verdict) {
            (None, _) => ResponseError::UnknownTopicOrPartition.code(),
            (Some(_), Ok(())) => 0,
            (Some(_), Err(e)) => e.code(),
        };
        let result = AddPartitionsToTxnPartitionResult::default()
            .with_partition_index(partition)
            .with_partition_error_code(code);
        match results.last_mut() {
            Some(t) if t.name.as_str() == topic => t.results_by_partition.push(result),
            _ => results.push(
                AddPartitionsToTxnTopicResult::default()
                    .with_name(kafka_protocol::messages::TopicName(topic.into()))
                    .with_results_by_partition(vec![result]),
            ),
        }
    }
    AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results)
}

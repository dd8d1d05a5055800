//! DescribeProducers: the producers each partition remembers (from the engine's
//! idempotence state), with the start of each one's open transaction.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{ApiKey, DescribeProducersRequest, DescribeProducersResponse, ProducerId};
use kafka_protocol::protocol::VersionRange;

use crate::Broker;

pub(crate) const KEY: ApiKey = ApiKey::DescribeProducers;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 0, max: 0 };

pub(crate) fn handle(broker: &Broker, req: DescribeProducersRequest) -> DescribeProducersResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = broker.topic(&t.name);
            let partitions = t
                .partition_indexes
                .iter()
                .map(|&p| {
                    let r = PartitionResponse::default().with_partition_index(p);
                    let stream = topic
                        .as_ref()
                        .and_then(|t| usize::try_from(p).ok().and_then(|i| t.streams.get(i)).copied());
                    let producers = stream.and_then(|s| {
                        broker.engine.meta().state().streams.get(&s).map(|m| (s, m.producers.clone()))
                    });
                    let Some((stream, producers)) = producers else {
                        return r.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    let active = producers
                        .into_iter()
                        .map(|(id, state)| {
                            ProducerState::default()
                                .with_producer_id(ProducerId(id as i64))
                                .with_producer_epoch(i32::from(state.epoch))
                                .with_last_sequence(state.recent.back().map_or(-1, |b| b.last_sequence))
                                .with_last_timestamp(-1)
                                .with_coordinator_epoch(-1)
                                .with_current_txn_start_offset(
                                    broker.txns.open_first_offset(stream, id).map_or(-1, |o| o as i64),
                                )
                        })
                        .collect();
                    r.with_active_producers(active)
                })
                .collect();
            TopicResponse::default().with_name(t.name).with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}

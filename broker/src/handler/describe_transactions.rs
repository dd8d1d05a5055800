//! DescribeTransactions: each transactional id's producer, state, timeout and the
//! partitions of its current (or last) transaction.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    ApiKey, DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use crate::Broker;

pub(crate) const KEY: ApiKey = ApiKey::DescribeTransactions;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 0, max: 0 };

pub(crate) fn handle(broker: &Broker, req: DescribeTransactionsRequest) -> DescribeTransactionsResponse {
    let states = req
        .transactional_ids
        .into_iter()
        .map(|id| {
            let r = TransactionState::default().with_producer_id(ProducerId(-1)).with_producer_epoch(-1);
            let Some(txn) = broker.txns.get(&id) else {
                return r
                    .with_transactional_id(id)
                    .with_transaction_state(StrBytes::from_static_str("Dead"))
                    .with_error_code(ResponseError::TransactionalIdNotFound.code());
            };
            let mut topics: Vec<TopicData> = Vec::new();
            for p in &txn.partitions {
                match topics.iter_mut().find(|t| t.topic.as_str() == p.topic) {
                    Some(t) => t.partitions.push(p.partition),
                    None => topics.push(
                        TopicData::default()
                            .with_topic(TopicName(StrBytes::from_string(p.topic.clone())))
                            .with_partitions(vec![p.partition]),
                    ),
                }
            }
            r.with_transactional_id(id)
                .with_transaction_state(StrBytes::from_static_str(txn.state.name()))
                .with_transaction_timeout_ms(txn.timeout_ms)
                .with_transaction_start_time_ms(txn.started_ms)
                .with_producer_id(ProducerId(txn.producer_id as i64))
                .with_producer_epoch(txn.epoch)
                .with_topics(topics)
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}

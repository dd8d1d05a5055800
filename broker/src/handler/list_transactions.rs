//! ListTransactions (v0-1): transactional ids, filtered by state, producer id and (v1)
//! how long their transaction has run. v2's id pattern is a Java regular expression,
//! which Floe does not evaluate, so v2 is not served.

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ApiKey, ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use crate::txn::TxnState;
use crate::{Broker, now_ms};

pub(crate) const KEY: ApiKey = ApiKey::ListTransactions;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 0, max: 1 };

const STATES: [TxnState; 6] = [
    TxnState::Empty,
    TxnState::Ongoing,
    TxnState::PrepareCommit,
    TxnState::PrepareAbort,
    TxnState::CompleteCommit,
    TxnState::CompleteAbort,
];

pub(crate) fn handle(broker: &Broker, req: ListTransactionsRequest) -> ListTransactionsResponse {
    let unknown: Vec<StrBytes> = req
        .state_filters
        .iter()
        .filter(|f| !STATES.iter().any(|s| s.name() == f.as_str()))
        .cloned()
        .collect();
    let now = now_ms();
    let states = broker
        .txns
        .all()
        .into_iter()
        .filter(|t| {
            req.state_filters.is_empty() || req.state_filters.iter().any(|f| f.as_str() == t.state.name())
        })
        .filter(|t| {
            req.producer_id_filters.is_empty()
                || req.producer_id_filters.contains(&ProducerId(t.producer_id as i64))
        })
        .filter(|t| {
            req.duration_filter < 0
                || (t.state == TxnState::Ongoing && now - t.started_ms >= req.duration_filter)
        })
        .map(|t| {
            TransactionState::default()
                .with_transactional_id(TransactionalId(StrBytes::from_string(t.id)))
                .with_producer_id(ProducerId(t.producer_id as i64))
                .with_transaction_state(StrBytes::from_static_str(t.state.name()))
        })
        .collect();
    ListTransactionsResponse::default().with_unknown_state_filters(unknown).with_transaction_states(states)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::ResponseError;

    use super::*;
    use crate::txn::Caller;

    #[tokio::test]
    async fn filters_by_state_and_producer() {
        let broker = crate::start(crate::Config::in_memory()).await.unwrap().broker;
        let anyone = Caller { producer_id: -1, epoch: -1, fenced: ResponseError::ProducerFenced };
        let (pid, _) = broker.txns.init_producer("x", 1000, anyone).await.unwrap();
        let list = |states: &[&'static str], pids: Vec<ProducerId>| {
            let req = ListTransactionsRequest::default()
                .with_state_filters(states.iter().map(|s| StrBytes::from_static_str(s)).collect())
                .with_producer_id_filters(pids);
            handle(&broker, req)
        };
        let all = list(&[], vec![]);
        assert_eq!(all.transaction_states.len(), 1);
        assert_eq!(all.transaction_states[0].producer_id, ProducerId(pid as i64));
        assert_eq!(all.transaction_states[0].transaction_state.as_str(), "Empty");
        assert!(list(&["Ongoing"], vec![]).transaction_states.is_empty());
        assert!(list(&[], vec![ProducerId(pid as i64 + 1)]).transaction_states.is_empty());
        assert_eq!(list(&["Bogus"], vec![]).unknown_state_filters, vec![StrBytes::from_static_str("Bogus")]);
    }
}

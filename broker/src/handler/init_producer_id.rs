//! InitProducerId: for an idempotent producer, a producer id no one else has, persisted
//! through the metadata store; for a transactional one, its transactional id's producer
//! id with a newer epoch, from the transaction coordinator.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::protocol::VersionRange;

use crate::Broker;
use crate::error::kafka_error;
use crate::txn::Caller;

pub(crate) const KEY: ApiKey = ApiKey::InitProducerId;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 0, max: 5 };

/// What a stale epoch gets in a transactional request: PRODUCER_FENCED from the version
/// where each API learned it (KIP-588), INVALID_PRODUCER_EPOCH before.
pub(crate) fn fenced(version: i16, since: i16) -> ResponseError {
    if version >= since { ResponseError::ProducerFenced } else { ResponseError::InvalidProducerEpoch }
}

pub(crate) async fn handle(
    broker: &Broker,
    req: InitProducerIdRequest,
    version: i16,
) -> InitProducerIdResponse {
    let failed = |code: ResponseError| {
        InitProducerIdResponse::default()
            .with_error_code(code.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    let granted = |id: u64, epoch: i16| {
        InitProducerIdResponse::default().with_producer_id(ProducerId(id as i64)).with_producer_epoch(epoch)
    };
    if let Some(id) = &req.transactional_id {
        let caller =
            Caller { producer_id: req.producer_id.0, epoch: req.producer_epoch, fenced: fenced(version, 4) };
        return match broker.txns.init_producer(id, req.transaction_timeout_ms, caller).await {
            Ok((id, epoch)) => granted(id, epoch),
            Err(code) => failed(code),
        };
    }
    // A producer re-initialising after an error (KIP-360) keeps its id with a newer
    // epoch, which fences its own older requests; sequences restart at 0.
    if req.producer_id.0 >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX - 1 {
        return InitProducerIdResponse::default()
            .with_producer_id(req.producer_id)
            .with_producer_epoch(req.producer_epoch + 1);
    }
    match broker.engine.allocate_producer_id().await {
        Ok(id) => granted(id, 0),
        Err(e) => failed(kafka_error(&e)),
    }
}

//! InitProducerId for idempotent producers: a producer id no one else has, persisted
//! through the metadata store. Transactional producers are not served yet.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::protocol::VersionRange;

use crate::Broker;
use crate::error::kafka_error;

pub(crate) const KEY: ApiKey = ApiKey::InitProducerId;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 0, max: 5 };

pub(crate) async fn handle(broker: &Broker, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let failed = |code: ResponseError| {
        InitProducerIdResponse::default()
            .with_error_code(code.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if req.transactional_id.is_some() {
        return failed(ResponseError::TransactionalIdAuthorizationFailed);
    }
    // A producer re-initialising after an error (KIP-360) keeps its id with a newer
    // epoch, which fences its own older requests; sequences restart at 0.
    if req.producer_id.0 >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX - 1 {
        return InitProducerIdResponse::default()
            .with_producer_id(req.producer_id)
            .with_producer_epoch(req.producer_epoch + 1);
    }
    match broker.engine.allocate_producer_id().await {
        Ok(id) => {
            InitProducerIdResponse::default().with_producer_id(ProducerId(id as i64)).with_producer_epoch(0)
        }
        Err(e) => failed(kafka_error(&e)),
    }
}

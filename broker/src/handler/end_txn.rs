//! EndTxn: commits or aborts the producer's transaction. Answered once the markers are
//! in every partition and committed offsets are visible, so the producer's next
//! transaction never overlaps this one.

use kafka_protocol::messages::{ApiKey, EndTxnRequest, EndTxnResponse};
use kafka_protocol::protocol::VersionRange;

use super::init_producer_id::fenced;
use crate::Broker;
use crate::txn::Caller;

pub(crate) const KEY: ApiKey = ApiKey::EndTxn;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 0, max: 3 };

pub(crate) async fn handle(broker: &Broker, req: EndTxnRequest, version: i16) -> EndTxnResponse {
    let caller =
        Caller { producer_id: req.producer_id.0, epoch: req.producer_epoch, fenced: fenced(version, 2) };
    let code = match broker.txns.end(&req.transactional_id, caller, req.committed).await {
        Ok(()) => 0,
        Err(e) => e.code(),
    };
    EndTxnResponse::default().with_error_code(code)
}

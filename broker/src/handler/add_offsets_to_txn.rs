//! AddOffsetsToTxn: the producer will commit a group's offsets in its transaction.

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, ApiKey};
use kafka_protocol::protocol::VersionRange;

use super::init_producer_id::fenced;
use crate::Broker;
use crate::txn::Caller;

pub(crate) const KEY: ApiKey = ApiKey::AddOffsetsToTxn;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 0, max: 3 };

pub(crate) async fn handle(
    broker: &Broker,
    req: AddOffsetsToTxnRequest,
    version: i16,
) -> AddOffsetsToTxnResponse {
    let caller =
        Caller { producer_id: req.producer_id.0, epoch: req.producer_epoch, fenced: fenced(version, 2) };
    let code = match broker.txns.add_offsets(&req.transactional_id, caller, &req.group_id).await {
        Ok(()) => 0,
        Err(e) => e.code(),
    };
    AddOffsetsToTxnResponse::default().with_error_code(code)
}

//! FindCoordinator: this broker coordinates every group.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{ApiKey, BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use crate::Broker;

pub(crate) const KEY: ApiKey = ApiKey::FindCoordinator;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 0, max: 5 };

pub(crate) fn handle(broker: &Broker, req: FindCoordinatorRequest, version: i16) -> FindCoordinatorResponse {
    let node = BrokerId(broker.server.node_id);
    let host = StrBytes::from_string(broker.advertised_host.clone());
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                Coordinator::default()
                    .with_key(key)
                    .with_node_id(node)
                    .with_host(host.clone())
                    .with_port(broker.advertised_port)
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    FindCoordinatorResponse::default().with_node_id(node).with_host(host).with_port(broker.advertised_port)
}

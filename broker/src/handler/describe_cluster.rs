//! DescribeCluster: this broker, the controller (itself) and the cluster id.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{ApiKey, BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use crate::Broker;

pub(crate) const KEY: ApiKey = ApiKey::DescribeCluster;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 0, max: 1 };

pub(crate) fn handle(broker: &Broker, req: DescribeClusterRequest) -> DescribeClusterResponse {
    let node = BrokerId(broker.server.node_id);
    DescribeClusterResponse::default()
        .with_endpoint_type(req.endpoint_type)
        .with_cluster_id(StrBytes::from_string(broker.server.cluster_id.clone()))
        .with_controller_id(node)
        .with_brokers(vec![
            DescribeClusterBroker::default()
                .with_broker_id(node)
                .with_host(StrBytes::from_string(broker.advertised_host.clone()))
                .with_port(broker.advertised_port)
                .with_rack(broker.server.rack.clone().map(StrBytes::from_string)),
        ])
}

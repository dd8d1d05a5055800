//! One handler per Kafka API, dispatched from here. [`SERVED`] is the one list of what
//! Floe answers; ApiVersions advertises exactly it and anything else closes the
//! connection, as Kafka does.

mod add_offsets_to_txn;
mod add_partitions_to_txn;
mod alter_configs;
pub(crate) mod api_versions;
mod consumer_group_describe;
mod consumer_group_heartbeat;
mod create_partitions;
mod create_topics;
mod delete_groups;
mod delete_records;
mod delete_topics;
mod describe_cluster;
mod describe_configs;
mod describe_groups;
mod describe_producers;
mod describe_transactions;
mod end_txn;
mod fetch;
mod find_coordinator;
mod heartbeat;
mod init_producer_id;
mod join_group;
mod leave_group;
mod list_groups;
mod list_offsets;
mod list_transactions;
mod metadata;
mod offset_commit;
mod offset_delete;
mod offset_fetch;
mod produce;
mod sync_group;
mod txn_offset_commit;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use tokio::task::JoinHandle;

use crate::Broker;
use crate::error::{Error, Result};
use crate::frame::{self, Request};

/// The APIs Floe serves and their versions.
pub(crate) const SERVED: [(ApiKey, VersionRange); 34] = [
    (api_versions::KEY, api_versions::VERSIONS),
    (metadata::KEY, metadata::VERSIONS),
    (create_topics::KEY, create_topics::VERSIONS),
    (delete_topics::KEY, delete_topics::VERSIONS),
    (produce::KEY, produce::VERSIONS),
    (fetch::KEY, fetch::VERSIONS),
    (list_offsets::KEY, list_offsets::VERSIONS),
    (init_producer_id::KEY, init_producer_id::VERSIONS),
    (find_coordinator::KEY, find_coordinator::VERSIONS),
    (join_group::KEY, join_group::VERSIONS),
    (sync_group::KEY, sync_group::VERSIONS),
    (heartbeat::KEY, heartbeat::VERSIONS),
    (leave_group::KEY, leave_group::VERSIONS),
    (offset_commit::KEY, offset_commit::VERSIONS),
    (offset_fetch::KEY, offset_fetch::VERSIONS),
    (offset_delete::KEY, offset_delete::VERSIONS),
    (describe_groups::KEY, describe_groups::VERSIONS),
    (list_groups::KEY, list_groups::VERSIONS),
    (delete_groups::KEY, delete_groups::VERSIONS),
    (describe_configs::KEY, describe_configs::VERSIONS),
    (alter_configs::KEY, alter_configs::VERSIONS),
    (alter_configs::INCREMENTAL_KEY, alter_configs::INCREMENTAL_VERSIONS),
    (create_partitions::KEY, create_partitions::VERSIONS),
    (delete_records::KEY, delete_records::VERSIONS),
    (describe_cluster::KEY, describe_cluster::VERSIONS),
    (consumer_group_heartbeat::KEY, consumer_group_heartbeat::VERSIONS),
    (consumer_group_describe::KEY, consumer_group_describe::VERSIONS),
    (add_partitions_to_txn::KEY, add_partitions_to_txn::VERSIONS),
    (add_offsets_to_txn::KEY, add_offsets_to_txn::VERSIONS),
    (end_txn::KEY, end_txn::VERSIONS),
    (txn_offset_commit::KEY, txn_offset_commit::VERSIONS),
    (describe_producers::KEY, describe_producers::VERSIONS),
    (list_transactions::KEY, list_transactions::VERSIONS),
    (describe_transactions::KEY, describe_transactions::VERSIONS),
];

/// DescribeConfigs and AlterConfigs resource types.
pub(crate) const TOPIC_RESOURCE: i8 = 2;
pub(crate) const BROKER_RESOURCE: i8 = 4;

/// The versions of `api` Floe serves, if any.
pub(crate) fn supported(api: ApiKey) -> Option<VersionRange> {
    SERVED.iter().find(|(k, _)| *k == api).map(|(_, v)| *v)
}

/// A request in progress: resolves to its response frame, or `None` when no response
/// is owed (Produce with acks=0).
pub(crate) type Pending = JoinHandle<Result<Option<Bytes>>>;

/// Starts a request. Produce queues its batches before this returns, so that a
/// connection's requests reach the log in the order they were sent; everything else
/// runs wholly in its own task.
pub(crate) async fn start(broker: &Arc<Broker>, request: Request, peer: SocketAddr) -> Pending {
    let Request { api, version, header, body } = request;
    let client = Client {
        id: header.client_id.as_ref().map(|c| c.to_string()).unwrap_or_default(),
        host: format!("/{}", peer.ip()),
    };
    broker.metrics.requests.with_label_values(&[&format!("{api:?}")]).inc();
    let correlation_id = header.correlation_id;
    if let RequestKind::Produce(r) = body {
        let durable = produce::submit(broker, r, version).await;
        return tokio::spawn(async move {
            match durable.await {
                Some(response) => {
                    frame::encode(api, version, correlation_id, &ResponseKind::Produce(response)).map(Some)
                }
                None => Ok(None),
            }
        });
    }
    let broker = broker.clone();
    tokio::spawn(async move {
        let response = respond(&broker, version, body, client).await?;
        frame::encode(api, version, correlation_id, &response).map(Some)
    })
}

/// Who sent a request, for group membership.
#[derive(Debug)]
struct Client {
    id: String,
    host: String,
}

async fn respond(broker: &Broker, version: i16, body: RequestKind, client: Client) -> Result<ResponseKind> {
    Ok(match body {
        RequestKind::FindCoordinator(r) => {
            ResponseKind::FindCoordinator(find_coordinator::handle(broker, r, version))
        }
        RequestKind::JoinGroup(r) => {
            ResponseKind::JoinGroup(join_group::handle(broker, r, version, client.id, client.host).await)
        }
        RequestKind::SyncGroup(r) => ResponseKind::SyncGroup(sync_group::handle(broker, r, version).await),
        RequestKind::ConsumerGroupDescribe(r) => {
            ResponseKind::ConsumerGroupDescribe(consumer_group_describe::handle(broker, r, version))
        }
        RequestKind::ConsumerGroupHeartbeat(r) => ResponseKind::ConsumerGroupHeartbeat(
            consumer_group_heartbeat::handle(broker, r, client.id, client.host),
        ),
        RequestKind::Heartbeat(r) => ResponseKind::Heartbeat(heartbeat::handle(broker, r)),
        RequestKind::LeaveGroup(r) => ResponseKind::LeaveGroup(leave_group::handle(broker, r, version)),
        RequestKind::OffsetCommit(r) => ResponseKind::OffsetCommit(offset_commit::handle(broker, r).await),
        RequestKind::OffsetFetch(r) => ResponseKind::OffsetFetch(offset_fetch::handle(broker, r, version)),
        RequestKind::OffsetDelete(r) => ResponseKind::OffsetDelete(offset_delete::handle(broker, r).await),
        RequestKind::DescribeGroups(r) => {
            ResponseKind::DescribeGroups(describe_groups::handle(broker, r, version))
        }
        RequestKind::ListGroups(r) => ResponseKind::ListGroups(list_groups::handle(broker, r, version)),
        RequestKind::DeleteGroups(r) => ResponseKind::DeleteGroups(delete_groups::handle(broker, r).await),
        RequestKind::DescribeConfigs(r) => {
            ResponseKind::DescribeConfigs(describe_configs::handle(broker, r, version))
        }
        RequestKind::AlterConfigs(r) => ResponseKind::AlterConfigs(alter_configs::handle(broker, r).await),
        RequestKind::IncrementalAlterConfigs(r) => {
            ResponseKind::IncrementalAlterConfigs(alter_configs::handle_incremental(broker, r).await)
        }
        RequestKind::CreatePartitions(r) => {
            ResponseKind::CreatePartitions(create_partitions::handle(broker, r).await)
        }
        RequestKind::DeleteRecords(r) => ResponseKind::DeleteRecords(delete_records::handle(broker, r).await),
        RequestKind::DescribeCluster(r) => ResponseKind::DescribeCluster(describe_cluster::handle(broker, r)),
        RequestKind::ApiVersions(_) => ResponseKind::ApiVersions(api_versions::handle()),
        RequestKind::Metadata(r) => ResponseKind::Metadata(metadata::handle(broker, r, version).await),
        RequestKind::CreateTopics(r) => {
            ResponseKind::CreateTopics(create_topics::handle(broker, r, version).await)
        }
        RequestKind::DeleteTopics(r) => {
            ResponseKind::DeleteTopics(delete_topics::handle(broker, r, version).await)
        }
        RequestKind::Fetch(r) => ResponseKind::Fetch(fetch::handle(broker, r, version).await),
        RequestKind::InitProducerId(r) => {
            ResponseKind::InitProducerId(init_producer_id::handle(broker, r, version).await)
        }
        RequestKind::AddPartitionsToTxn(r) => {
            ResponseKind::AddPartitionsToTxn(add_partitions_to_txn::handle(broker, r, version).await)
        }
        RequestKind::AddOffsetsToTxn(r) => {
            ResponseKind::AddOffsetsToTxn(add_offsets_to_txn::handle(broker, r, version).await)
        }
        RequestKind::EndTxn(r) => ResponseKind::EndTxn(end_txn::handle(broker, r, version).await),
        RequestKind::TxnOffsetCommit(r) => {
            ResponseKind::TxnOffsetCommit(txn_offset_commit::handle(broker, r, version).await)
        }
        RequestKind::DescribeProducers(r) => {
            ResponseKind::DescribeProducers(describe_producers::handle(broker, r))
        }
        RequestKind::ListTransactions(r) => {
            ResponseKind::ListTransactions(list_transactions::handle(broker, r))
        }
        RequestKind::DescribeTransactions(r) => {
            ResponseKind::DescribeTransactions(describe_transactions::handle(broker, r))
        }
        RequestKind::ListOffsets(r) => {
            ResponseKind::ListOffsets(list_offsets::handle(broker, r, version).await)
        }
        other => return Err(Error::Protocol(format!("no handler for {other:?}"))),
    })
}

/// Kafka's rule for topic names.
pub(crate) fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// An optional message for a response.
pub(crate) fn message(text: impl Into<String>) -> Option<StrBytes> {
    Some(StrBytes::from_string(text.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka() {
        assert!(valid_topic_name("orders.v1_eu-west"));
        for bad in ["", ".", "..", "a b", "ü", &"x".repeat(250)] {
            assert!(!valid_topic_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn served_versions_are_within_what_the_codec_knows() {
        for (api, range) in SERVED {
            let codec = api.valid_versions();
            assert!(range.min >= codec.min && range.max <= codec.max, "{api:?}");
        }
    }
}

/// Every served API, at every served version, answered over the memory store: the
/// response must encode (a field set that the version lacks fails here, not in a client).
#[cfg(test)]
mod every_version {
    use bytes::Bytes;
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::*;

    use super::*;
    use crate::config::Config;

    fn name(s: &str) -> TopicName {
        TopicName(StrBytes::from_string(s.to_string()))
    }

    async fn memory_broker() -> Arc<Broker> {
        crate::start(Config::in_memory()).await.unwrap().broker
    }

    fn requests(api: ApiKey, version: i16, topic_id: uuid::Uuid) -> Vec<RequestKind> {
        let t = |s: &str| name(s);
        match api {
            ApiKey::ApiVersions => vec![RequestKind::ApiVersions(ApiVersionsRequest::default())],
            ApiKey::Metadata => vec![
                RequestKind::Metadata(MetadataRequest::default().with_topics(if version == 0 {
                    Some(vec![])
                } else {
                    None
                })),
                RequestKind::Metadata(MetadataRequest::default().with_topics(Some(vec![
                    MetadataRequestTopic::default().with_name(Some(t("t"))),
                    MetadataRequestTopic::default().with_name(Some(t("bad name!"))),
                ]))),
            ],
            ApiKey::CreateTopics => {
                vec![RequestKind::CreateTopics(CreateTopicsRequest::default().with_topics(vec![
                    CreatableTopic::default()
                        .with_name(t(&format!("c{version}")))
                        .with_num_partitions(2)
                        .with_replication_factor(1),
                    CreatableTopic::default()
                        .with_name(t("t"))
                        .with_num_partitions(1)
                        .with_replication_factor(1),
                ]))]
            }
            ApiKey::DeleteTopics if version >= 6 => vec![RequestKind::DeleteTopics(
                DeleteTopicsRequest::default()
                    .with_topics(vec![DeleteTopicState::default().with_name(Some(t("missing")))]),
            )],
            ApiKey::DeleteTopics => {
                vec![RequestKind::DeleteTopics(
                    DeleteTopicsRequest::default().with_topic_names(vec![t("missing")]),
                )]
            }
            ApiKey::Produce => {
                let batch = Bytes::from(crate::batch::tests::batch(2, b"xy"));
                let topic = if version >= 13 {
                    TopicProduceData::default().with_topic_id(topic_id)
                } else {
                    TopicProduceData::default().with_name(t("t"))
                };
                vec![RequestKind::Produce(
                    ProduceRequest::default().with_acks(-1).with_timeout_ms(1000).with_topic_data(vec![
                        topic.with_partition_data(vec![
                            PartitionProduceData::default().with_index(0).with_records(Some(batch.clone())),
                            PartitionProduceData::default().with_index(7).with_records(Some(batch)),
                        ]),
                    ]),
                )]
            }
            ApiKey::Fetch => {
                let topic = if version >= 13 {
                    FetchTopic::default().with_topic_id(topic_id)
                } else {
                    FetchTopic::default().with_topic(t("t"))
                };
                vec![RequestKind::Fetch(FetchRequest::default().with_max_bytes(1 << 20).with_topics(vec![
                    topic.with_partitions(vec![
                        FetchPartition::default().with_partition(0).with_partition_max_bytes(1 << 20),
                        FetchPartition::default().with_partition(0).with_fetch_offset(1 << 40),
                    ]),
                ]))]
            }
            ApiKey::ListOffsets => {
                vec![RequestKind::ListOffsets(ListOffsetsRequest::default().with_topics(vec![
                    ListOffsetsTopic::default().with_name(t("t")).with_partitions(vec![
                        ListOffsetsPartition::default().with_timestamp(-2),
                        ListOffsetsPartition::default().with_timestamp(0),
                        ListOffsetsPartition::default().with_partition_index(9).with_timestamp(-1),
                    ]),
                ]))]
            }
            ApiKey::InitProducerId => vec![
                RequestKind::InitProducerId(
                    InitProducerIdRequest::default().with_producer_id(ProducerId(-1)).with_producer_epoch(-1),
                ),
                RequestKind::InitProducerId(
                    InitProducerIdRequest::default()
                        .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("tx"))))
                        .with_transaction_timeout_ms(60_000)
                        .with_producer_id(ProducerId(-1))
                        .with_producer_epoch(-1),
                ),
            ],
            ApiKey::AddPartitionsToTxn => vec![RequestKind::AddPartitionsToTxn(
                AddPartitionsToTxnRequest::default()
                    .with_v3_and_below_transactional_id(TransactionalId(StrBytes::from_static_str("tx")))
                    .with_v3_and_below_producer_id(ProducerId(0))
                    .with_v3_and_below_topics(vec![
                        add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                            .with_name(t("t"))
                            .with_partitions(vec![0, 9]),
                    ]),
            )],
            ApiKey::AddOffsetsToTxn => vec![RequestKind::AddOffsetsToTxn(
                AddOffsetsToTxnRequest::default()
                    .with_transactional_id(TransactionalId(StrBytes::from_static_str("tx")))
                    .with_group_id(GroupId(StrBytes::from_static_str("g"))),
            )],
            ApiKey::EndTxn => vec![RequestKind::EndTxn(
                EndTxnRequest::default()
                    .with_transactional_id(TransactionalId(StrBytes::from_static_str("tx")))
                    .with_committed(true),
            )],
            ApiKey::TxnOffsetCommit => vec![RequestKind::TxnOffsetCommit(
                TxnOffsetCommitRequest::default()
                    .with_transactional_id(TransactionalId(StrBytes::from_static_str("tx")))
                    .with_group_id(GroupId(StrBytes::from_static_str("g")))
                    .with_topics(vec![
                        txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                            .with_name(t("t"))
                            .with_partitions(vec![
                                txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                                    .with_committed_offset(1),
                                txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                                    .with_partition_index(4),
                            ]),
                    ]),
            )],
            ApiKey::DescribeProducers => {
                vec![RequestKind::DescribeProducers(DescribeProducersRequest::default().with_topics(vec![
                    describe_producers_request::TopicRequest::default()
                        .with_name(t("t"))
                        .with_partition_indexes(vec![0, 5]),
                ]))]
            }
            ApiKey::ListTransactions => vec![
                RequestKind::ListTransactions(ListTransactionsRequest::default()),
                RequestKind::ListTransactions(ListTransactionsRequest::default().with_state_filters(vec![
                    StrBytes::from_static_str("Empty"),
                    StrBytes::from_static_str("Bogus"),
                ])),
            ],
            ApiKey::DescribeTransactions => vec![RequestKind::DescribeTransactions(
                DescribeTransactionsRequest::default().with_transactional_ids(vec![
                    TransactionalId(StrBytes::from_static_str("tx")),
                    TransactionalId(StrBytes::from_static_str("missing")),
                ]),
            )],
            ApiKey::FindCoordinator => vec![RequestKind::FindCoordinator(
                FindCoordinatorRequest::default()
                    .with_key(StrBytes::from_static_str("g"))
                    .with_coordinator_keys(vec![StrBytes::from_static_str("g")]),
            )],
            ApiKey::JoinGroup => vec![RequestKind::JoinGroup(
                JoinGroupRequest::default()
                    .with_group_id(GroupId(StrBytes::from_string(format!("g{version}"))))
                    .with_member_id(StrBytes::from_string(format!("m{version}")))
                    .with_session_timeout_ms(10_000)
                    .with_rebalance_timeout_ms(10)
                    .with_protocol_type(StrBytes::from_static_str("consumer"))
                    .with_protocols(vec![
                        join_group_request::JoinGroupRequestProtocol::default()
                            .with_name(StrBytes::from_static_str("range"))
                            .with_metadata(Bytes::from_static(b"meta")),
                    ]),
            )],
            ApiKey::SyncGroup => vec![RequestKind::SyncGroup(
                SyncGroupRequest::default()
                    .with_group_id(GroupId(StrBytes::from_static_str("g0")))
                    .with_generation_id(1)
                    .with_member_id(StrBytes::from_static_str("m0")),
            )],
            ApiKey::Heartbeat => vec![RequestKind::Heartbeat(
                HeartbeatRequest::default()
                    .with_group_id(GroupId(StrBytes::from_static_str("g0")))
                    .with_generation_id(7)
                    .with_member_id(StrBytes::from_static_str("m0")),
            )],
            ApiKey::LeaveGroup => vec![RequestKind::LeaveGroup(
                LeaveGroupRequest::default()
                    .with_group_id(GroupId(StrBytes::from_static_str("nobody")))
                    .with_member_id(StrBytes::from_static_str("x"))
                    .with_members(if version >= 3 {
                        vec![
                            leave_group_request::MemberIdentity::default()
                                .with_member_id(StrBytes::from_static_str("x")),
                        ]
                    } else {
                        vec![]
                    }),
            )],
            ApiKey::OffsetCommit => vec![RequestKind::OffsetCommit(
                OffsetCommitRequest::default()
                    .with_group_id(GroupId(StrBytes::from_static_str("simple")))
                    .with_generation_id_or_member_epoch(-1)
                    .with_topics(vec![
                        offset_commit_request::OffsetCommitRequestTopic::default()
                            .with_name(t("t"))
                            .with_partitions(vec![
                                offset_commit_request::OffsetCommitRequestPartition::default()
                                    .with_committed_offset(1),
                                offset_commit_request::OffsetCommitRequestPartition::default()
                                    .with_partition_index(5),
                            ]),
                    ]),
            )],
            ApiKey::OffsetFetch if version >= 8 => {
                vec![RequestKind::OffsetFetch(OffsetFetchRequest::default().with_groups(vec![
                    offset_fetch_request::OffsetFetchRequestGroup::default()
                        .with_group_id(GroupId(StrBytes::from_static_str("simple"))),
                ]))]
            }
            ApiKey::OffsetFetch => vec![RequestKind::OffsetFetch(
                OffsetFetchRequest::default()
                    .with_group_id(GroupId(StrBytes::from_static_str("simple")))
                    .with_topics(Some(vec![
                        offset_fetch_request::OffsetFetchRequestTopic::default()
                            .with_name(t("t"))
                            .with_partition_indexes(vec![0, 3]),
                    ])),
            )],
            ApiKey::OffsetDelete => vec![RequestKind::OffsetDelete(
                OffsetDeleteRequest::default().with_group_id(GroupId(StrBytes::from_static_str("simple"))),
            )],
            ApiKey::DescribeGroups => {
                vec![RequestKind::DescribeGroups(DescribeGroupsRequest::default().with_groups(vec![
                    GroupId(StrBytes::from_static_str("g0")),
                    GroupId(StrBytes::from_static_str("missing")),
                ]))]
            }
            ApiKey::ListGroups => vec![RequestKind::ListGroups(ListGroupsRequest::default())],
            ApiKey::DeleteGroups => vec![RequestKind::DeleteGroups(
                DeleteGroupsRequest::default()
                    .with_groups_names(vec![GroupId(StrBytes::from_static_str("missing"))]),
            )],
            ApiKey::DescribeConfigs => {
                vec![RequestKind::DescribeConfigs(DescribeConfigsRequest::default().with_resources(vec![
                    describe_configs_request::DescribeConfigsResource::default()
                        .with_resource_type(TOPIC_RESOURCE)
                        .with_resource_name(StrBytes::from_static_str("t")),
                    describe_configs_request::DescribeConfigsResource::default()
                        .with_resource_type(TOPIC_RESOURCE)
                        .with_resource_name(StrBytes::from_static_str("missing")),
                ]))]
            }
            ApiKey::AlterConfigs => {
                vec![RequestKind::AlterConfigs(AlterConfigsRequest::default().with_resources(vec![
                alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(TOPIC_RESOURCE)
                    .with_resource_name(StrBytes::from_static_str("t"))
                    .with_configs(vec![alter_configs_request::AlterableConfig::default()
                        .with_name(StrBytes::from_static_str("retention.ms"))
                        .with_value(Some(StrBytes::from_static_str("-7")))]),
            ]))]
            }
            ApiKey::IncrementalAlterConfigs => vec![RequestKind::IncrementalAlterConfigs(
                IncrementalAlterConfigsRequest::default().with_resources(vec![
                    incremental_alter_configs_request::AlterConfigsResource::default()
                        .with_resource_type(TOPIC_RESOURCE)
                        .with_resource_name(StrBytes::from_static_str("t"))
                        .with_configs(vec![
                            incremental_alter_configs_request::AlterableConfig::default()
                                .with_name(StrBytes::from_static_str("retention.ms"))
                                .with_value(Some(StrBytes::from_static_str("1000"))),
                        ]),
                ]),
            )],
            ApiKey::CreatePartitions => vec![RequestKind::CreatePartitions(
                CreatePartitionsRequest::default().with_validate_only(true).with_topics(vec![
                    create_partitions_request::CreatePartitionsTopic::default()
                        .with_name(t("t"))
                        .with_count(3),
                ]),
            )],
            ApiKey::DeleteRecords => {
                vec![RequestKind::DeleteRecords(DeleteRecordsRequest::default().with_topics(vec![
                    delete_records_request::DeleteRecordsTopic::default().with_name(t("t")).with_partitions(
                        vec![
                            delete_records_request::DeleteRecordsPartition::default().with_offset(0),
                            delete_records_request::DeleteRecordsPartition::default().with_partition_index(4),
                        ],
                    ),
                ]))]
            }
            ApiKey::DescribeCluster => vec![RequestKind::DescribeCluster(DescribeClusterRequest::default())],
            ApiKey::ConsumerGroupHeartbeat => {
                let join = ConsumerGroupHeartbeatRequest::default()
                    .with_group_id(GroupId(StrBytes::from_static_str("g848")))
                    .with_member_id(StrBytes::from_static_str("m848"))
                    .with_rebalance_timeout_ms(1000)
                    .with_subscribed_topic_names(Some(vec![t("t")]));
                let beat = ConsumerGroupHeartbeatRequest::default()
                    .with_group_id(GroupId(StrBytes::from_static_str("g848")))
                    .with_member_id(StrBytes::from_static_str("m848"))
                    .with_member_epoch(1)
                    .with_topic_partitions(Some(vec![
                        consumer_group_heartbeat_request::TopicPartitions::default()
                            .with_topic_id(topic_id)
                            .with_partitions(vec![0]),
                    ]));
                vec![RequestKind::ConsumerGroupHeartbeat(join), RequestKind::ConsumerGroupHeartbeat(beat)]
            }
            ApiKey::ConsumerGroupDescribe => vec![RequestKind::ConsumerGroupDescribe(
                ConsumerGroupDescribeRequest::default().with_group_ids(vec![
                    GroupId(StrBytes::from_static_str("g848")),
                    GroupId(StrBytes::from_static_str("missing")),
                ]),
            )],
            other => panic!("no sample request for {other:?}"),
        }
    }

    #[tokio::test]
    async fn every_served_version_answers_and_encodes() {
        let broker = memory_broker().await;
        let topic = broker.engine.create_topic("t", 1, Default::default()).await.unwrap();
        for (api, range) in SERVED {
            for version in range.min..=range.max {
                for body in requests(api, version, topic.id) {
                    let header = RequestHeader::default().with_correlation_id(i32::from(version));
                    let pending =
                        start(&broker, Request { api, version, header, body }, ([127, 0, 0, 1], 1).into())
                            .await;
                    let answer = pending.await.unwrap();
                    let bytes = answer.unwrap_or_else(|e| panic!("{api:?} v{version}: {e}")).unwrap();
                    assert!(bytes.len() > 8, "{api:?} v{version}");
                }
            }
        }
        // the produce requests above really appended (partition 7 does not exist)
        assert!(broker.engine.bounds(topic.streams[0]).unwrap().1 > 0);
    }
}

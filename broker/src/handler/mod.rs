//! One handler per Kafka API, dispatched from here. [`SERVED`] is the one list of what
//! Floe answers; ApiVersions advertises exactly it and anything else closes the
//! connection, as Kafka does.

pub(crate) mod api_versions;
mod create_topics;
mod delete_topics;
mod fetch;
mod init_producer_id;
mod list_offsets;
mod metadata;
mod produce;

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use tokio::task::JoinHandle;

use crate::Broker;
use crate::error::{Error, Result};
use crate::frame::{self, Request};

/// The APIs Floe serves and their versions.
pub(crate) const SERVED: [(ApiKey, VersionRange); 8] = [
    (api_versions::KEY, api_versions::VERSIONS),
    (metadata::KEY, metadata::VERSIONS),
    (create_topics::KEY, create_topics::VERSIONS),
    (delete_topics::KEY, delete_topics::VERSIONS),
    (produce::KEY, produce::VERSIONS),
    (fetch::KEY, fetch::VERSIONS),
    (list_offsets::KEY, list_offsets::VERSIONS),
    (init_producer_id::KEY, init_producer_id::VERSIONS),
];

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
pub(crate) async fn start(broker: &Arc<Broker>, request: Request) -> Pending {
    let Request { api, version, header, body } = request;
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
        let response = respond(&broker, version, body).await?;
        frame::encode(api, version, correlation_id, &response).map(Some)
    })
}

async fn respond(broker: &Broker, version: i16, body: RequestKind) -> Result<ResponseKind> {
    Ok(match body {
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
            ResponseKind::InitProducerId(init_producer_id::handle(broker, r).await)
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
        let mut config = Config::default();
        config.storage.scheme = floe_backends::Scheme::Memory;
        config.storage.root = "/".into();
        config.server.listen = "127.0.0.1:0".into();
        config.server.metrics_listen = String::new();
        config.engine.wal_window = std::time::Duration::from_millis(1);
        crate::start(config).await.unwrap().broker
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
            ApiKey::CreateTopics => vec![RequestKind::CreateTopics(
                CreateTopicsRequest::default().with_topics(vec![
                    CreatableTopic::default()
                        .with_name(t(&format!("c{version}")))
                        .with_num_partitions(2)
                        .with_replication_factor(1),
                    CreatableTopic::default()
                        .with_name(t("t"))
                        .with_num_partitions(1)
                        .with_replication_factor(1),
                ]),
            )],
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
            ApiKey::InitProducerId => vec![RequestKind::InitProducerId(
                InitProducerIdRequest::default().with_producer_id(ProducerId(-1)).with_producer_epoch(-1),
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
                    let pending = start(&broker, Request { api, version, header, body }).await;
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

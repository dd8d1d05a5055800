//! One handler per Kafka API, dispatched from here. [`SERVED`] is the one list of what
//! Floe answers; ApiVersions advertises exactly it and anything else closes the
//! connection, as Kafka does.

pub(crate) mod api_versions;
mod create_topics;
mod delete_topics;
mod fetch;
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
pub(crate) const SERVED: [(ApiKey, VersionRange); 7] = [
    (api_versions::KEY, api_versions::VERSIONS),
    (metadata::KEY, metadata::VERSIONS),
    (create_topics::KEY, create_topics::VERSIONS),
    (delete_topics::KEY, delete_topics::VERSIONS),
    (produce::KEY, produce::VERSIONS),
    (fetch::KEY, fetch::VERSIONS),
    (list_offsets::KEY, list_offsets::VERSIONS),
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
    let Request {
        api,
        version,
        header,
        body,
    } = request;
    broker
        .metrics
        .requests
        .with_label_values(&[&format!("{api:?}")])
        .inc();
    let correlation_id = header.correlation_id;
    if let RequestKind::Produce(r) = body {
        let durable = produce::submit(broker, r, version).await;
        return tokio::spawn(async move {
            match durable.await {
                Some(response) => frame::encode(
                    api,
                    version,
                    correlation_id,
                    &ResponseKind::Produce(response),
                )
                .map(Some),
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
        RequestKind::Metadata(r) => {
            ResponseKind::Metadata(metadata::handle(broker, r, version).await)
        }
        RequestKind::CreateTopics(r) => {
            ResponseKind::CreateTopics(create_topics::handle(broker, r, version).await)
        }
        RequestKind::DeleteTopics(r) => {
            ResponseKind::DeleteTopics(delete_topics::handle(broker, r, version).await)
        }
        RequestKind::Fetch(r) => ResponseKind::Fetch(fetch::handle(broker, r, version).await),
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
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
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

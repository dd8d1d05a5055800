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

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use kafka_protocol::protocol::{StrBytes, VersionRange};

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

/// Runs a request; `None` means no response is owed (Produce with acks=0).
pub(crate) async fn handle(broker: &Broker, request: Request) -> Result<Option<Bytes>> {
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
    let response = match body {
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
        RequestKind::Produce(r) => match produce::handle(broker, r, version).await {
            Some(response) => ResponseKind::Produce(response),
            None => return Ok(None),
        },
        RequestKind::Fetch(r) => ResponseKind::Fetch(fetch::handle(broker, r, version).await),
        RequestKind::ListOffsets(r) => {
            ResponseKind::ListOffsets(list_offsets::handle(broker, r, version).await)
        }
        other => return Err(Error::Protocol(format!("no handler for {other:?}"))),
    };
    frame::encode(api, version, header.correlation_id, &response).map(Some)
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

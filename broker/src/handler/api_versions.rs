//! ApiVersions: what Floe serves, exactly.

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, ResponseKind};
use kafka_protocol::protocol::VersionRange;

use super::SERVED;
use crate::error::Result;
use crate::frame;

pub(crate) const KEY: ApiKey = ApiKey::ApiVersions;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 0, max: 4 };

pub(crate) fn handle() -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(
        SERVED
            .iter()
            .map(|(api, range)| {
                ApiVersion::default()
                    .with_api_key(*api as i16)
                    .with_min_version(range.min)
                    .with_max_version(range.max)
            })
            .collect(),
    )
}

/// The answer to an ApiVersions request newer than Floe knows: v0, UNSUPPORTED_VERSION,
/// with the versions Floe does serve.
pub(crate) fn too_new(correlation_id: i32) -> Result<Bytes> {
    let response = handle().with_error_code(ResponseError::UnsupportedVersion.code());
    frame::encode(KEY, 0, correlation_id, &ResponseKind::ApiVersions(response))
}

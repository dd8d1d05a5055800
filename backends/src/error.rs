//! The one error type of the storage seam: every failure says what the caller should do.

use std::time::Duration;

/// What went wrong with an object-store request, classified by what the caller can do
/// about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object does not exist.
    #[error("object not found: {0}")]
    NotFound(String),
    /// A conditional write lost: the object already exists (create-if-absent) or changed.
    #[error("object already exists or changed: {0}")]
    AlreadyExists(String),
    /// The store answered with something worth retrying (throttling, 5xx, a broken
    /// connection). The request may or may not have taken effect.
    #[error("store unavailable (retriable): {0}")]
    Unavailable(String),
    /// No answer within the per-request timeout. The request may or may not have taken
    /// effect.
    #[error("store request timed out after {0:?}")]
    Timeout(Duration),
    /// The store refused for a reason retrying will not fix (permissions, bad request).
    #[error("store request failed: {0}")]
    Permanent(String),
    /// The store settings cannot describe a working store.
    #[error("invalid store configuration: {0}")]
    Config(String),
}

impl Error {
    /// Whether retrying the same request may succeed.
    pub fn is_retriable(&self) -> bool {
        matches!(self, Error::Unavailable(_) | Error::Timeout(_))
    }
}

impl From<opendal::Error> for Error {
    fn from(err: opendal::Error) -> Self {
        use opendal::ErrorKind as K;
        match err.kind() {
            K::NotFound => Error::NotFound(err.to_string()),
            K::AlreadyExists | K::ConditionNotMatch => Error::AlreadyExists(err.to_string()),
            K::ConfigInvalid => Error::Config(err.to_string()),
            K::RateLimited => Error::Unavailable(err.to_string()),
            _ if err.is_temporary() => Error::Unavailable(err.to_string()),
            // OpenDAL marks some transport failures as persistent (e.g. connection
            // refused while the store restarts); for a durable log, waiting out an
            // unreachable store is the right call, so treat them as retriable.
            K::Unexpected => Error::Unavailable(err.to_string()),
            _ => Error::Permanent(err.to_string()),
        }
    }
}

/// Results of the storage seam.
pub type Result<T, E = Error> = std::result::Result<T, E>;

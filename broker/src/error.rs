//! The broker's error type, and the one mapping from engine errors to Kafka error codes.

use floe_stream::ErrorKind;
use kafka_protocol::ResponseError;

/// Broker failures that end a connection or the process.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Settings that cannot work.
    #[error("configuration: {0}")]
    Config(String),
    /// Socket or file I/O.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The storage engine failed.
    #[error("engine: {0}")]
    Engine(#[from] floe_stream::Error),
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] floe_backends::Error),
    /// A request the broker cannot make sense of; the connection is closed.
    #[error("protocol: {0}")]
    Protocol(String),
}

/// Results of the broker.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The Kafka error code for an engine error. Store trouble is retriable for clients.
pub fn kafka_error(e: &floe_stream::Error) -> ResponseError {
    use floe_stream::Error as E;
    match e {
        E::UnknownStream(_) | E::UnknownTopic(_) => ResponseError::UnknownTopicOrPartition,
        E::TopicExists(_) => ResponseError::TopicAlreadyExists,
        E::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        E::OutOfOrderSequence(_) => ResponseError::OutOfOrderSequenceNumber,
        E::ProducerFenced(_) => ResponseError::InvalidProducerEpoch,
        E::Store(floe_backends::Error::Timeout(_)) => ResponseError::RequestTimedOut,
        _ => match e.kind() {
            ErrorKind::Retriable | ErrorKind::Corruption => ResponseError::KafkaStorageError,
            ErrorKind::Fenced => ResponseError::NotLeaderOrFollower,
            ErrorKind::InvalidInput => ResponseError::InvalidRequest,
            ErrorKind::Internal => ResponseError::UnknownServerError,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_trouble_is_retriable_for_clients() {
        let down = floe_stream::Error::Store(floe_backends::Error::Unavailable("503".into()));
        assert!(kafka_error(&down).is_retriable());
        let slow = floe_stream::Error::Store(floe_backends::Error::Timeout(std::time::Duration::ZERO));
        assert!(kafka_error(&slow).is_retriable());
        let gone = floe_stream::Error::UnknownTopic("t".into());
        assert_eq!(kafka_error(&gone), ResponseError::UnknownTopicOrPartition);
    }
}

//! The engine's one error type, with the kind that tells a caller what to do.

/// What a caller should do about an [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Try again later: the store is slow or down.
    Retriable,
    /// The request was wrong: unknown stream, bad offset, bad argument.
    InvalidInput,
    /// Another writer has taken over; this one must stop writing.
    Fenced,
    /// Stored bytes failed a checksum or format check.
    Corruption,
    /// A bug or an impossible state.
    Internal,
}

/// Engine failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object store failed.
    #[error("object store: {0}")]
    Store(#[from] floe_backends::Error),
    /// No stream with this id.
    #[error("unknown stream {0}")]
    UnknownStream(u64),
    /// No topic with this name.
    #[error("unknown topic {0}")]
    UnknownTopic(String),
    /// A topic with this name exists.
    #[error("topic {0} already exists")]
    TopicExists(String),
    /// The offset is outside the stream's `[start, end]`.
    #[error("offset {offset} out of range [{start}, {end}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        offset: u64,
        /// First offset still stored.
        start: u64,
        /// Next offset to be written.
        end: u64,
    },
    /// A request the engine cannot carry out as asked.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Another writer committed to the metadata log first.
    #[error("fenced: {0}")]
    Fenced(String),
    /// A stored object or metadata record failed its checks.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// An append's producer sequence does not follow the last one.
    #[error("out of order sequence: {0}")]
    OutOfOrderSequence(String),
    /// An append's producer epoch is older than one already seen.
    #[error("producer fenced: {0}")]
    ProducerFenced(String),
    /// The file WAL could not be read or written.
    #[error("file WAL: {0}")]
    Wal(String),
    /// The engine is shutting down.
    #[error("engine is shut down")]
    Closed,
}

impl Error {
    /// What a caller should do about this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Store(e) if e.is_retriable() => ErrorKind::Retriable,
            Error::Store(floe_backends::Error::Config(_) | floe_backends::Error::Permanent(_)) => {
                ErrorKind::Internal
            }
            Error::Store(_) => ErrorKind::Internal,
            Error::UnknownStream(_)
            | Error::UnknownTopic(_)
            | Error::TopicExists(_)
            | Error::OffsetOutOfRange { .. }
            | Error::Invalid(_)
            | Error::OutOfOrderSequence(_) => ErrorKind::InvalidInput,
            Error::Fenced(_) | Error::ProducerFenced(_) => ErrorKind::Fenced,
            Error::Corrupt(_) => ErrorKind::Corruption,
            Error::Closed | Error::Wal(_) => ErrorKind::Retriable,
        }
    }
}

/// Results of the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

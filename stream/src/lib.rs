//! floe-stream: Floe's storage engine. Streams of opaque record batches with contiguous
//! offsets, kept in objects on any store `floe-backends` reaches: the object and file
//! WALs, the object format, the metadata log and the caches. Knows nothing of Kafka.

mod cache;
mod compaction;
mod engine;
mod error;
pub mod meta;
pub mod object;
mod paths;
pub mod producer;
mod wal;

pub use compaction::{CompactionStats, Rewriter};
pub use engine::{Engine, EngineSettings, ReadBatch, Submitted};
pub use error::{Error, ErrorKind, Result};
pub use meta::{EmbeddedMeta, MetaStore};
pub use object::Batch;
pub use producer::ProducerStamp;
pub use wal::WalMode;

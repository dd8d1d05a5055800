//! Internal streams: one-partition topics whose names no Kafka client can use, holding
//! the broker's own state (group offsets, transactions) as one JSON record per change.
//! The state is rebuilt at start by replaying them. Not here: what the records mean.

use std::collections::BTreeMap;

use bytes::Bytes;
use floe_stream::{Batch, Engine};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The stream of a one-partition internal topic, created on first use.
pub(crate) async fn stream(engine: &Engine, topic: &str) -> floe_stream::Result<u64> {
    let existing = || engine.meta().state().topics.get(topic).and_then(|t| t.streams.first().copied());
    if let Some(s) = existing() {
        return Ok(s);
    }
    match engine.create_topic(topic, 1, BTreeMap::new()).await {
        Ok(t) => t.streams.first().copied().ok_or_else(|| floe_stream::Error::UnknownTopic(topic.into())),
        Err(floe_stream::Error::TopicExists(_)) => {
            existing().ok_or_else(|| floe_stream::Error::UnknownTopic(topic.into()))
        }
        Err(e) => Err(e),
    }
}

/// Feeds every JSON record of an internal stream to `apply`, oldest first. A record that
/// does not parse is skipped with a warning: one bad record must not stop the broker.
pub(crate) async fn replay<T: DeserializeOwned>(
    engine: &Engine,
    stream: u64,
    mut apply: impl FnMut(T),
) -> floe_stream::Result<()> {
    let (mut next, end) = engine.bounds(stream)?;
    while next < end {
        let batches = engine.read(stream, next, 8 << 20).await?;
        let Some(last) = batches.last() else { break };
        next = last.base_offset + u64::from(last.batch.records);
        for b in batches {
            match serde_json::from_slice::<T>(&b.batch.payload) {
                Ok(record) => apply(record),
                Err(e) => {
                    tracing::warn!(stream, offset = b.base_offset, error = %e, "unreadable record skipped")
                }
            }
        }
    }
    Ok(())
}

/// Appends one record durably.
pub(crate) async fn append(engine: &Engine, stream: u64, record: &impl Serialize) -> floe_stream::Result<()> {
    let payload = serde_json::to_vec(record).map_err(|e| floe_stream::Error::Invalid(e.to_string()))?;
    let batch = Batch { payload: Bytes::from(payload), records: 1, max_timestamp: crate::now_ms() };
    engine.append(stream, vec![batch]).await.map(|_| ())
}

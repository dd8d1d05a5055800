//! ListOffsets: earliest (-2), latest (-1), or the first offset at or after a timestamp.
//! Served up to v6: v7's max-timestamp query (-3) is not implemented, so not advertised.
//! Latest, for a read_committed client, is the last stable offset.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ApiKey, ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::protocol::VersionRange;

use crate::Broker;
use crate::error::kafka_error;

pub(crate) const KEY: ApiKey = ApiKey::ListOffsets;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 1, max: 6 };

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;

async fn lookup(
    broker: &Broker,
    stream: u64,
    timestamp: i64,
    read_committed: bool,
) -> Result<(i64, i64), floe_stream::Error> {
    let (start, end) = broker.engine.bounds(stream)?;
    Ok(match timestamp {
        EARLIEST => (-1, start as i64),
        LATEST if read_committed => (-1, broker.txns.last_stable(stream, end) as i64),
        LATEST => (-1, end as i64),
        ts if ts >= 0 => match broker.engine.offset_for_timestamp(stream, ts).await? {
            Some(offset) => (ts, offset as i64),
            None => (-1, -1),
        },
        other => {
            return Err(floe_stream::Error::Invalid(format!("timestamp {other} is not a query Floe serves")));
        }
    })
}

pub(crate) async fn handle(broker: &Broker, req: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    let mut topics = Vec::with_capacity(req.topics.len());
    for topic in req.topics {
        let found = broker.topic(&topic.name);
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in topic.partitions {
            let r = ListOffsetsPartitionResponse::default()
                .with_partition_index(p.partition_index)
                .with_timestamp(-1)
                .with_offset(-1);
            let stream = found.as_ref().and_then(|t| {
                usize::try_from(p.partition_index).ok().and_then(|i| t.streams.get(i)).copied()
            });
            let r = match stream {
                None => r.with_error_code(ResponseError::UnknownTopicOrPartition.code()),
                Some(stream) => match lookup(broker, stream, p.timestamp, req.isolation_level == 1).await {
                    Ok((timestamp, offset)) => r
                        .with_timestamp(timestamp)
                        .with_offset(offset)
                        .with_leader_epoch(if version >= 4 { 0 } else { -1 }),
                    Err(e) => r.with_error_code(kafka_error(&e).code()),
                },
            };
            partitions.push(r);
        }
        topics.push(ListOffsetsTopicResponse::default().with_name(topic.name).with_partitions(partitions));
    }
    ListOffsetsResponse::default().with_topics(topics)
}

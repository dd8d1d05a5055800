//! DeleteRecords: moves a partition's first readable offset forward (-1: to the end).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{ApiKey, DeleteRecordsRequest, DeleteRecordsResponse};
use kafka_protocol::protocol::VersionRange;

use crate::Broker;
use crate::error::kafka_error;

pub(crate) const KEY: ApiKey = ApiKey::DeleteRecords;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 0, max: 2 };

pub(crate) async fn handle(broker: &Broker, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let found = broker.topic(&t.name);
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in t.partitions {
            let stream = found.as_ref().and_then(|topic| {
                usize::try_from(p.partition_index).ok().and_then(|i| topic.streams.get(i)).copied()
            });
            let outcome = match stream {
                None => Err(ResponseError::UnknownTopicOrPartition),
                Some(stream) => {
                    let target = match p.offset {
                        -1 => broker.engine.bounds(stream).map(|(_, end)| end).map_err(|e| kafka_error(&e)),
                        o if o < 0 => Err(ResponseError::OffsetOutOfRange),
                        o => Ok(o as u64),
                    };
                    match target {
                        Ok(offset) => broker.engine.trim(stream, offset).await.map_err(|e| kafka_error(&e)),
                        Err(code) => Err(code),
                    }
                }
            };
            let r = DeleteRecordsPartitionResult::default().with_partition_index(p.partition_index);
            partitions.push(match outcome {
                Ok(low) => r.with_low_watermark(low as i64),
                Err(code) => r.with_low_watermark(-1).with_error_code(code.code()),
            });
        }
        topics.push(DeleteRecordsTopicResult::default().with_name(t.name).with_partitions(partitions));
    }
    DeleteRecordsResponse::default().with_topics(topics)
}

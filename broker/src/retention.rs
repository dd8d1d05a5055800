//! Applies each topic's `cleanup.policy` on a timer. `delete`: `retention.ms` and
//! `retention.bytes` (Kafka's names, Kafka's defaults), through the engine, which trims
//! whole blocks and deletes the objects no stream reads any more. `compact`: the log
//! cleaner, for each partition that grew since it last ran.

use std::collections::HashMap;
use std::sync::Weak;
use std::time::Duration;

use crate::Broker;
use crate::cleaner;
use crate::handler::valid_topic_name;
use crate::topic_config;

/// Runs a pass every `interval` while the broker lives.
pub(crate) async fn run(broker: Weak<Broker>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Where each stream ended when the cleaner last went over it.
    let mut cleaned: HashMap<u64, u64> = HashMap::new();
    loop {
        tick.tick().await;
        let Some(broker) = broker.upgrade() else { return };
        pass(&broker, &mut cleaned).await;
    }
}

async fn pass(broker: &Broker, cleaned: &mut HashMap<u64, u64>) {
    let topics: Vec<_> =
        broker.engine.meta().state().topics.values().filter(|t| valid_topic_name(&t.name)).cloned().collect();
    let now = crate::now_ms();
    for topic in topics {
        let get = |name: &str| topic_config::value(&topic.configs, name);
        let policy = get("cleanup.policy");
        if policy.split(',').any(|p| p.trim() == "compact") {
            for &stream in &topic.streams {
                // Only what is in objects can be rewritten.
                let committed = broker.engine.meta().state().streams.get(&stream).map(|s| s.end_offset);
                let Some(end) = committed else { continue };
                if cleaned.get(&stream) == Some(&end) {
                    continue;
                }
                match cleaner::clean(&broker.engine, stream).await {
                    Ok(_) => {
                        cleaned.insert(stream, end);
                    }
                    Err(e) => {
                        tracing::warn!(topic = topic.name, stream, error = %e, "log cleaning failed; will retry")
                    }
                }
            }
        }
        if !policy.split(',').any(|p| p.trim() == "delete") {
            continue;
        }
        let age = get("retention.ms").parse::<i64>().ok().filter(|v| *v >= 0);
        let bytes = get("retention.bytes").parse::<i64>().ok().filter(|v| *v >= 0).map(|v| v as u64);
        if age.is_none() && bytes.is_none() {
            continue;
        }
        for stream in &topic.streams {
            if let Err(e) = broker.engine.enforce_retention(*stream, age, bytes, now).await {
                tracing::warn!(topic = topic.name, stream, error = %e, "retention pass failed; will retry");
            }
        }
    }
}

//! Applies each topic's `retention.ms` and `retention.bytes` (Kafka's names, Kafka's
//! defaults) on a timer, through the engine, which trims whole blocks and deletes the
//! objects no stream reads any more. Topics whose `cleanup.policy` lacks `delete` are
//! left alone.

use std::sync::Weak;
use std::time::Duration;

use crate::Broker;
use crate::handler::valid_topic_name;
use crate::topic_config;

/// Runs a pass every `interval` while the broker lives.
pub(crate) async fn run(broker: Weak<Broker>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(broker) = broker.upgrade() else { return };
        pass(&broker).await;
    }
}

async fn pass(broker: &Broker) {
    let topics: Vec<_> =
        broker.engine.meta().state().topics.values().filter(|t| valid_topic_name(&t.name)).cloned().collect();
    let now = crate::now_ms();
    for topic in topics {
        let get = |name: &str| topic_config::value(&topic.configs, name);
        if !get("cleanup.policy").split(',').any(|p| p.trim() == "delete") {
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

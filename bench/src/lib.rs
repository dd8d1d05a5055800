//! floe-bench: throughput, latency and cost of Floe over each store, beside a peer
//! broker (Tansu) on the same workload, machine and minutes. It talks to brokers over
//! the Kafka protocol through librdkafka, like any user; it never links the broker.

pub mod cli;
pub mod cost;
pub mod latency;
pub mod machine;
pub mod metrics;
pub mod report;
pub mod results;
pub mod run;
pub mod target;
pub mod workload;

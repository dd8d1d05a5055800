//! The client side of a run, in the style of the OpenMessaging Benchmark and
//! kafka-producer-perf-test: producers and consumers through librdkafka (the rdkafka
//! crate), a tailing phase (produce for a while, consumers reading as records arrive)
//! and a catch-up phase (fresh consumers read the whole backlog from the earliest
//! offset). It knows nothing of which broker it talks to.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use crate::latency::{self, Summary};

/// The topic every run writes.
pub const TOPIC: &str = "floe-bench";

/// What the clients do; the same for every target of a run.
#[derive(Debug, Clone, PartialEq, Args, Serialize, Deserialize)]
pub struct Workload {
    /// Producer clients.
    #[arg(long, default_value_t = 1)]
    pub producers: usize,
    /// Consumer clients (each phase); partitions are split between them.
    #[arg(long, default_value_t = 1)]
    pub consumers: usize,
    /// Partitions of the topic.
    #[arg(long, default_value_t = 6)]
    pub partitions: i32,
    /// Bytes per record value.
    #[arg(long, default_value_t = 1024)]
    pub record_size: usize,
    /// Records per second over all producers; 0 produces as fast as the broker acks.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Seconds of producing in the tailing phase.
    #[arg(long, default_value_t = 30)]
    pub duration_secs: u64,
    /// Producer `acks`: 0, 1 or all.
    #[arg(long, default_value = "all")]
    pub acks: String,
    /// Producer `compression.type`: none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none")]
    pub compression: String,
    /// Producer `linger.ms`.
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u64,
    /// Producer `batch.size`, bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub batch_size: u64,
    /// Producer `queue.buffering.max.kbytes`: records waiting in the client. At the max
    /// rate, ack latency includes this queue; a small one keeps it about the broker.
    #[arg(long, default_value_t = 16 << 10)]
    pub queue_kib: u64,
}

/// Throughput of one second of a phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Seconds since the phase started (end of the interval).
    pub t: f64,
    /// Bytes acknowledged to producers in the interval.
    pub produced: u64,
    /// Bytes delivered to consumers in the interval.
    pub consumed: u64,
}

/// What one phase measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    /// Record bytes acknowledged.
    pub produced_bytes: u64,
    /// Records acknowledged.
    pub produced_records: u64,
    /// Seconds from the first send to the last acknowledgement.
    pub produce_secs: f64,
    /// Record bytes consumed.
    pub consumed_bytes: u64,
    /// Records consumed.
    pub consumed_records: u64,
    /// Seconds from the phase's start to the last record consumed.
    pub consume_secs: f64,
    /// Produce-ack latency (send to delivery report).
    pub ack: Summary,
    /// End-to-end latency (send to receipt by a consumer).
    pub e2e: Summary,
    /// Throughput second by second.
    pub series: Vec<Sample>,
    /// Records whose delivery failed.
    pub failed: u64,
}

/// Counters the sampler reads while clients run.
#[derive(Debug, Default)]
struct Progress {
    produced_bytes: AtomicU64,
    produced_records: AtomicU64,
    consumed_bytes: AtomicU64,
    consumed_records: AtomicU64,
    failed: AtomicU64,
}

/// A record's value: the send time (microseconds since the run's epoch, little-endian)
/// in the first 8 bytes, then bytes over a 16-letter alphabet, which compress about 2:1
/// like typical text payloads rather than not at all (random) or absurdly well (zeros).
fn payload(size: usize, seed: u64) -> Vec<u8> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut v: Vec<u8> = (0..size.max(8)).map(|_| b'a' + rng.random_range(0..16u8)).collect();
    v[..8].fill(0);
    v
}

fn stamp(value: &mut [u8], micros: u64) {
    value[..8].copy_from_slice(&micros.to_le_bytes());
}

fn stamped(value: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(value.get(..8)?.try_into().ok()?))
}

/// Microseconds since `epoch`.
fn micros(epoch: Instant) -> u64 {
    epoch.elapsed().as_micros() as u64
}

/// Delivery reports: the ack latency of each record. The opaque carried with a record is
/// its send time.
struct AckContext {
    epoch: Instant,
    progress: Arc<Progress>,
    acks: Mutex<Histogram<u64>>,
}

impl ClientContext for AckContext {}

impl ProducerContext for AckContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_at: usize) {
        match result {
            Ok(message) => {
                let latency = micros(self.epoch).saturating_sub(sent_at as u64);
                if let Ok(mut h) = self.acks.lock() {
                    latency::record(&mut h, latency);
                }
                self.progress.produced_bytes.fetch_add(message.payload_len() as u64, Ordering::Relaxed);
                self.progress.produced_records.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.progress.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Workload {
    fn producer_config(&self, bootstrap: &str) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", bootstrap)
            .set("acks", &self.acks)
            .set("compression.type", &self.compression)
            .set("linger.ms", self.linger_ms.to_string())
            .set("batch.size", self.batch_size.to_string())
            // a batch must fit in a message set
            .set("message.max.bytes", (self.batch_size + (64 << 10)).to_string())
            .set("queue.buffering.max.kbytes", self.queue_kib.to_string())
            .set("message.timeout.ms", "120000");
        c
    }

    fn consumer_config(&self, bootstrap: &str, group: &str) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", bootstrap)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("fetch.max.bytes", (64 << 20).to_string())
            .set("max.partition.fetch.bytes", (8 << 20).to_string());
        c
    }

    /// The partitions consumer `index` reads.
    fn assignment(&self, index: usize) -> Vec<i32> {
        (0..self.partitions).filter(|p| *p as usize % self.consumers == index).collect()
    }

    /// Creates the topic with the workload's partitions.
    pub fn create_topic(&self, bootstrap: &str) -> Result<()> {
        let admin: AdminClient<DefaultClientContext> =
            ClientConfig::new().set("bootstrap.servers", bootstrap).create().context("admin client")?;
        let topic = NewTopic::new(TOPIC, self.partitions, TopicReplication::Fixed(1));
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let runtime = tokio::runtime::Builder::new_current_thread().build()?;
        for result in runtime.block_on(admin.create_topics([&topic], &options))? {
            if let Err((name, code)) = result
                && code != RDKafkaErrorCode::TopicAlreadyExists
            {
                bail!("create topic {name}: {code}");
            }
        }
        Ok(())
    }

    /// Tailing: consumers read while producers write for the workload's duration; then
    /// consumers drain what is left.
    pub fn tail(&self, bootstrap: &str) -> Result<Phase> {
        let phase = Shared::start();
        let sampler = phase.sample_every_second();
        let consumers = self.spawn_consumers(bootstrap, "floe-bench-tail", &phase, true)?;
        let producing = Arc::new(AtomicBool::new(true));
        let producers: Vec<_> = (0..self.producers)
            .map(|i| self.spawn_producer(bootstrap, i, &phase, producing.clone()))
            .collect::<Result<_>>()?;
        thread::sleep(Duration::from_secs(self.duration_secs));
        producing.store(false, Ordering::Relaxed);
        let mut acks = latency::histogram();
        for p in producers {
            acks.add(join(p)?)?;
        }
        let produce_secs = phase.epoch.elapsed().as_secs_f64();
        let progress = &phase.progress;
        let produced_records = progress.produced_records.load(Ordering::Relaxed);
        let (consume_secs, e2e) = phase.finish(consumers, produced_records)?;
        Ok(Phase {
            produced_bytes: progress.produced_bytes.load(Ordering::Relaxed),
            produced_records,
            produce_secs,
            consumed_bytes: progress.consumed_bytes.load(Ordering::Relaxed),
            consumed_records: progress.consumed_records.load(Ordering::Relaxed),
            consume_secs,
            ack: Summary::of(&acks),
            e2e: Summary::of(&e2e),
            series: join(sampler)?,
            failed: progress.failed.load(Ordering::Relaxed),
        })
    }

    /// Catch-up: fresh consumers read `records` from the earliest offset.
    pub fn catch_up(&self, bootstrap: &str, records: u64) -> Result<Phase> {
        let phase = Shared::start();
        let sampler = phase.sample_every_second();
        let consumers = self.spawn_consumers(bootstrap, "floe-bench-catch-up", &phase, false)?;
        let (consume_secs, _) = phase.finish(consumers, records)?;
        Ok(Phase {
            consumed_bytes: phase.progress.consumed_bytes.load(Ordering::Relaxed),
            consumed_records: phase.progress.consumed_records.load(Ordering::Relaxed),
            consume_secs,
            series: join(sampler)?,
            ..Phase::default()
        })
    }

    fn spawn_producer(
        &self,
        bootstrap: &str,
        index: usize,
        phase: &Shared,
        producing: Arc<AtomicBool>,
    ) -> Result<ClientThread> {
        let epoch = phase.epoch;
        let context =
            AckContext { epoch, progress: phase.progress.clone(), acks: Mutex::new(latency::histogram()) };
        let producer: BaseProducer<AckContext> =
            self.producer_config(bootstrap).create_with_context(context).context("producer")?;
        let mut value = payload(self.record_size, index as u64);
        let (partitions, producers) = (self.partitions as u64, self.producers as u64);
        let interval = (self.rate > 0).then(|| Duration::from_secs_f64(producers as f64 / self.rate as f64));
        Ok(thread::spawn(move || {
            let start = Instant::now();
            let mut sent: u64 = 0;
            while producing.load(Ordering::Relaxed) {
                if let Some(interval) = interval {
                    let due = start + interval.mul_f64(sent as f64);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        thread::sleep(wait);
                    }
                }
                let sent_at = micros(epoch);
                stamp(&mut value, sent_at);
                let partition = ((sent * producers + index as u64) % partitions) as i32;
                loop {
                    let record = BaseRecord::<(), [u8], usize>::with_opaque_to(TOPIC, sent_at as usize)
                        .partition(partition)
                        .payload(&value[..]);
                    match producer.send(record) {
                        Ok(()) => break,
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                            producer.poll(Duration::from_millis(1));
                        }
                        Err((e, _)) => return Err(e).context("produce"),
                    }
                }
                producer.poll(Duration::ZERO);
                sent += 1;
            }
            producer.flush(Duration::from_secs(120)).context("flush")?;
            let acks = producer.context().acks.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.clone();
            Ok(acks)
        }))
    }

    /// One consumer per share of the partitions, each from the earliest offset.
    fn spawn_consumers(
        &self,
        bootstrap: &str,
        group: &str,
        phase: &Shared,
        measure_e2e: bool,
    ) -> Result<Vec<ClientThread>> {
        (0..self.consumers)
            .map(|index| {
                let consumer: BaseConsumer =
                    self.consumer_config(bootstrap, group).create().context("consumer")?;
                let mut assignment = TopicPartitionList::new();
                for p in self.assignment(index) {
                    assignment.add_partition_offset(TOPIC, p, Offset::Beginning)?;
                }
                consumer.assign(&assignment)?;
                let Shared { epoch, progress, stop } = phase.clone();
                Ok(thread::spawn(move || {
                    let mut e2e = latency::histogram();
                    while !stop.load(Ordering::Relaxed) {
                        match consumer.poll(Duration::from_millis(100)) {
                            Some(Ok(message)) => {
                                let value = message.payload().unwrap_or_default();
                                if measure_e2e && let Some(sent_at) = stamped(value) {
                                    latency::record(&mut e2e, micros(epoch).saturating_sub(sent_at));
                                }
                                progress.consumed_bytes.fetch_add(value.len() as u64, Ordering::Relaxed);
                                progress.consumed_records.fetch_add(1, Ordering::Relaxed);
                            }
                            Some(Err(e)) => eprintln!("consumer {index}: {e}"),
                            None => {}
                        }
                    }
                    Ok(e2e)
                }))
            })
            .collect()
    }
}

/// A producer or consumer thread; it returns its latency histogram.
type ClientThread = thread::JoinHandle<Result<Histogram<u64>>>;

/// What the threads of one phase share.
#[derive(Debug, Clone)]
struct Shared {
    epoch: Instant,
    progress: Arc<Progress>,
    stop: Arc<AtomicBool>,
}

impl Shared {
    fn start() -> Shared {
        Shared { epoch: Instant::now(), progress: Arc::default(), stop: Arc::default() }
    }

    /// Waits for consumers to have `records` records, stops them and the sampler, and
    /// returns when the last record arrived (seconds into the phase) and the consumers'
    /// end-to-end latencies.
    fn finish(&self, consumers: Vec<ClientThread>, records: u64) -> Result<(f64, Histogram<u64>)> {
        let consume_secs = drain(&self.progress, records, self.epoch);
        self.stop.store(true, Ordering::Relaxed);
        let mut e2e = latency::histogram();
        for c in consumers {
            e2e.add(join(c)?)?;
        }
        Ok((consume_secs, e2e))
    }

    /// Counts bytes through the phase, second by second, until it stops.
    fn sample_every_second(&self) -> thread::JoinHandle<Result<Vec<Sample>>> {
        let Shared { epoch, progress, stop } = self.clone();
        thread::spawn(move || {
            let mut series = Vec::new();
            let (mut produced, mut consumed) = (0, 0);
            let mut tick = 1u32;
            while !stop.load(Ordering::Relaxed) {
                let due = epoch + Duration::from_secs(tick.into());
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    thread::sleep(wait);
                }
                let (p, c) = (
                    progress.produced_bytes.load(Ordering::Relaxed),
                    progress.consumed_bytes.load(Ordering::Relaxed),
                );
                series.push(Sample { t: tick.into(), produced: p - produced, consumed: c - consumed });
                (produced, consumed) = (p, c);
                tick += 1;
            }
            Ok(series)
        })
    }
}

/// Waits until consumers have `records` records (or two minutes pass without progress);
/// returns the seconds since `epoch` at which the last one arrived.
fn drain(progress: &Progress, records: u64, epoch: Instant) -> f64 {
    let mut last = (progress.consumed_records.load(Ordering::Relaxed), Instant::now());
    loop {
        let now = progress.consumed_records.load(Ordering::Relaxed);
        if now >= records {
            return epoch.elapsed().as_secs_f64();
        }
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(120) {
            eprintln!("consumers stalled at {now} of {records} records");
            return last.1.duration_since(epoch).as_secs_f64();
        }
        thread::sleep(Duration::from_millis(5));
    }
}

fn join<T>(handle: thread::JoinHandle<Result<T>>) -> Result<T> {
    handle.join().map_err(|_| anyhow::anyhow!("a client thread panicked"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_carries_its_send_time() {
        let mut v = payload(100, 1);
        assert_eq!(v.len(), 100);
        stamp(&mut v, 123_456_789);
        assert_eq!(stamped(&v), Some(123_456_789));
        assert!(v[8..].iter().all(|b| (b'a'..b'a' + 16).contains(b)));
        assert_eq!(stamped(&[1, 2, 3]), None);
    }

    #[test]
    fn partitions_are_split_between_consumers() {
        let w = Workload {
            producers: 1,
            consumers: 4,
            partitions: 6,
            record_size: 1,
            rate: 0,
            duration_secs: 1,
            acks: "all".into(),
            compression: "none".into(),
            linger_ms: 0,
            batch_size: 1,
            queue_kib: 1,
        };
        let all: Vec<i32> = {
            let mut v: Vec<i32> = (0..4).flat_map(|i| w.assignment(i)).collect();
            v.sort();
            v
        };
        assert_eq!(all, (0..6).collect::<Vec<_>>());
        assert_eq!(w.assignment(0), vec![0, 4]);
    }
}

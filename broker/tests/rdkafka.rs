//! The Rust `rdkafka` crate (librdkafka) against the real `floe` binary: an idempotent
//! producer, a consumer that commits its group's offsets, a transactional producer whose
//! committed records a read_committed consumer sees and whose aborted ones only a
//! read_uncommitted consumer does, and two consumers sharing a group.

// A test binary: its helpers fail by panicking, like its tests.
#![allow(clippy::unwrap_used)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

const WAIT: Duration = Duration::from_secs(60);

/// A `floe serve` over a fresh local directory, killed when dropped.
struct Floe {
    child: Child,
    addr: SocketAddr,
    _data: tempfile::TempDir,
}

impl Floe {
    fn start() -> Floe {
        Floe::start_with(&[])
    }

    fn start_with(env: &[(&str, &str)]) -> Floe {
        let data = tempfile::tempdir().unwrap();
        let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_floe"))
            .arg("serve")
            .current_dir(data.path())
            .env("FLOE_STORAGE__SCHEME", "fs")
            .env("FLOE_STORAGE__ROOT", data.path().join("bucket"))
            .env("FLOE_SERVER__LISTEN", addr.to_string())
            .env("FLOE_SERVER__METRICS_LISTEN", "")
            .env("FLOE_ENGINE__WAL_WINDOW", "5")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut floe = Floe { child, addr, _data: data };
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(addr).is_err() {
            assert!(floe.child.try_wait().unwrap().is_none(), "floe exited");
            assert!(Instant::now() < deadline, "floe is not listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        floe
    }

    fn config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.addr.to_string());
        c
    }
}

impl Drop for Floe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn send(producer: &BaseProducer, topic: &str, values: impl IntoIterator<Item = String>) {
    for v in values {
        let mut record = BaseRecord::<(), String>::to(topic).payload(&v);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    producer.poll(Duration::from_millis(10));
                    record = back;
                }
                Err((e, _)) => panic!("send: {e}"),
            }
        }
    }
    producer.flush(WAIT).unwrap();
}

/// Every value of `topic`'s partition 0 from the start, at an isolation level: at least
/// `expected`, then nothing more for a second.
fn read_all(floe: &Floe, topic: &str, isolation: &str, expected: usize) -> Vec<String> {
    let consumer: BaseConsumer = floe
        .config()
        .set("group.id", "rdkafka-reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        .set("fetch.wait.max.ms", "100")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning).unwrap();
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + WAIT;
    let mut quiet = Instant::now();
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(m) => {
                let m = m.unwrap();
                out.push(String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap());
                quiet = Instant::now();
            }
            None if out.len() >= expected && quiet.elapsed() > Duration::from_secs(1) => break,
            None => {}
        }
    }
    out
}

#[test]
fn rdkafka_groups_and_transactions() {
    let floe = Floe::start();

    // an idempotent producer, then a consumer that reads everything and commits its
    // position for its group
    let producer: BaseProducer = floe.config().set("enable.idempotence", "true").create().unwrap();
    send(&producer, "rs", (0..100).map(|i| format!("plain-{i}")));
    let read = read_all(&floe, "rs", "read_uncommitted", 100);
    assert_eq!(read, (0..100).map(|i| format!("plain-{i}")).collect::<Vec<_>>());
    let group: BaseConsumer = floe.config().set("group.id", "rs-group").create().unwrap();
    let mut position = TopicPartitionList::new();
    position.add_partition_offset("rs", 0, Offset::Offset(100)).unwrap();
    group.commit(&position, CommitMode::Sync).unwrap();
    let committed = group.committed_offsets(position, WAIT).unwrap();
    assert_eq!(committed.find_partition("rs", 0).unwrap().offset(), Offset::Offset(100));
    drop(group);

    // one committed and one aborted transaction
    let txn: BaseProducer = floe.config().set("transactional.id", "rs-app").create().unwrap();
    txn.init_transactions(WAIT).unwrap();
    txn.begin_transaction().unwrap();
    send(&txn, "rs", (0..10).map(|i| format!("yes-{i}")));
    txn.commit_transaction(WAIT).unwrap();
    txn.begin_transaction().unwrap();
    send(&txn, "rs", (0..5).map(|i| format!("no-{i}")));
    txn.abort_transaction(WAIT).unwrap();

    let committed = read_all(&floe, "rs", "read_committed", 110);
    assert_eq!(committed.len(), 110, "{committed:?}");
    assert!(committed.iter().all(|v| !v.starts_with("no-")));
    let everything = read_all(&floe, "rs", "read_uncommitted", 115);
    assert_eq!(everything.len(), 115);
    assert_eq!(everything.iter().filter(|v| v.starts_with("no-")).count(), 5);
}

/// Polls every consumer until each has some of `topic`'s partitions and together they
/// have all `partitions`; returns each one's partitions.
fn shared(consumers: &[&BaseConsumer], topic: &str, partitions: i32) -> Vec<Vec<i32>> {
    let deadline = Instant::now() + WAIT;
    loop {
        for c in consumers {
            if let Some(m) = c.poll(Duration::from_millis(100)) {
                panic!("no records yet, got {:?}", m.map(|m| m.offset()));
            }
        }
        let parts: Vec<Vec<i32>> = consumers
            .iter()
            .map(|c| {
                c.assignment().unwrap().elements_for_topic(topic).iter().map(|e| e.partition()).collect()
            })
            .collect();
        let mut all: Vec<i32> = parts.iter().flatten().copied().collect();
        all.sort_unstable();
        if all == (0..partitions).collect::<Vec<_>>() && parts.iter().all(|p| !p.is_empty()) {
            return parts;
        }
        assert!(Instant::now() < deadline, "no shared assignment: {parts:?}");
    }
}

/// Polls the consumers until `want` records arrived; commits each; returns (consumer,
/// value) pairs.
fn drain(consumers: &[&BaseConsumer], want: usize) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let deadline = Instant::now() + WAIT;
    while out.len() < want && Instant::now() < deadline {
        for (i, c) in consumers.iter().enumerate() {
            if let Some(m) = c.poll(Duration::from_millis(50)) {
                let m = m.unwrap();
                out.push((i, String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap()));
                c.commit_message(&m, CommitMode::Sync).unwrap();
            }
        }
    }
    out
}

#[test]
fn rdkafka_consumers_share_a_group_and_rebalance() {
    let floe = Floe::start_with(&[("FLOE_SERVER__DEFAULT_PARTITIONS", "4")]);
    let consumer = || -> BaseConsumer {
        floe.config()
            .set("group.id", "rs-share")
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "500")
            .set("fetch.wait.max.ms", "100")
            .create()
            .unwrap()
    };
    let producer: BaseProducer = floe
        .config()
        .set("partitioner", "random")
        .set("sticky.partitioning.linger.ms", "0")
        .create()
        .unwrap();
    producer.client().fetch_metadata(Some("share"), WAIT).unwrap(); // creates the topic
    let (a, b) = (consumer(), consumer());
    a.subscribe(&["share"]).unwrap();
    b.subscribe(&["share"]).unwrap();
    let parts = shared(&[&a, &b], "share", 4);
    assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2], "{parts:?}");
    send(&producer, "share", (0..200).map(|i| format!("v{i}")));
    let got = drain(&[&a, &b], 200);
    let mut values: Vec<&str> = got.iter().map(|(_, v)| v.as_str()).collect();
    values.sort_unstable();
    values.dedup();
    assert_eq!((values.len(), got.len()), (200, 200), "each record once");
    assert!(got.iter().any(|(i, _)| *i == 0) && got.iter().any(|(i, _)| *i == 1), "both consumers read");

    // b leaves; a takes over every partition and reads only what is new
    b.unsubscribe();
    drop(b);
    let deadline = Instant::now() + WAIT;
    while a.assignment().unwrap().count() < 4 {
        assert!(a.poll(Duration::from_millis(100)).is_none(), "nothing new to read yet");
        assert!(Instant::now() < deadline, "a never got b's partitions");
    }
    send(&producer, "share", (200..250).map(|i| format!("v{i}")));
    let more: Vec<String> = drain(&[&a], 50).into_iter().map(|(_, v)| v).collect();
    let mut expected: Vec<String> = (200..250).map(|i| format!("v{i}")).collect();
    let mut sorted = more.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected, "no loss, no duplicate: {more:?}");
}

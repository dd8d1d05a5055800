//! The Rust `rdkafka` crate (librdkafka, linked from the system) against the real `floe`
//! binary: an idempotent producer, a consumer that commits its group's offsets, and a
//! transactional producer whose committed records a read_committed consumer sees and
//! whose aborted ones only a read_uncommitted consumer does.

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

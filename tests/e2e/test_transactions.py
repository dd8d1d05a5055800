"""Kafka transactions against the real broker: transactional producers (confluent-kafka,
kafka-python, kafkajs) commit and abort across partitions and topics, with consumer
offsets; read_committed consumers see only committed records, read_uncommitted ones see
everything (control records are skipped by the clients themselves). Fencing by a newer
producer, the transaction timeout, and a broker killed mid-transaction."""

import json
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KTopicPartition

from clients import create_topic

JS = Path(__file__).resolve().parent / "js"


def txn_producer(bootstrap, tid, **conf):
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": tid, "linger.ms": 5, **conf})
    p.init_transactions(30)
    return p


def read(bootstrap, partitions, isolation, expected, settle=2.0, timeout=60):
    """Values read from the beginning of each (topic, partition): at least `expected`
    of them, then nothing more for `settle` seconds."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "txn-reader",
            "enable.auto.commit": False,
            "isolation.level": isolation,
            "fetch.wait.max.ms": 100,
        }
    )
    c.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in partitions])
    out = []
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    try:
        while time.monotonic() < deadline:
            msg = c.poll(0.2)
            if msg is None:
                if len(out) >= expected and time.monotonic() - quiet_since >= settle:
                    break
                continue
            assert msg.error() is None, msg.error()
            out.append(msg.value().decode())
            quiet_since = time.monotonic()
    finally:
        c.close()
    return out


def produce_txn(p, records, commit=True, offsets=None, group=None):
    """One transaction of (topic, partition, value); returns nothing, raises on failure."""
    p.begin_transaction()
    for topic, partition, value in records:
        p.produce(topic, value=value.encode(), partition=partition)
    if offsets is not None:
        p.send_offsets_to_transaction(offsets, group, 30)
    if commit:
        p.commit_transaction(30)
    else:
        p.abort_transaction(30)


def spread(prefix, n):
    return [(t, part, f"{prefix}-{t}-{part}-{i}") for i in range(n) for t, part in (("ta", 0), ("ta", 1), ("tb", 0))]


PARTS = [("ta", 0), ("ta", 1), ("tb", 0)]


def test_commit_and_abort_seen_by_each_isolation_level(broker):
    create_topic(broker.bootstrap, "ta", 2)
    create_topic(broker.bootstrap, "tb", 1)
    create_topic(broker.bootstrap, "tin", 1)
    group = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "txn-group"})
    p = txn_producer(broker.bootstrap, "app-1")
    first = spread("c1", 10)
    produce_txn(p, first, offsets=[TopicPartition("tin", 0, 42)], group=group.consumer_group_metadata())
    aborted = spread("ab", 5)
    produce_txn(p, aborted, commit=False, offsets=[TopicPartition("tin", 0, 99)], group=group.consumer_group_metadata())
    second = spread("c2", 4)
    produce_txn(p, second)
    plain = Producer({"bootstrap.servers": broker.bootstrap})
    plain.produce("tb", value=b"plain", partition=0)
    assert plain.flush(30) == 0

    committed = sorted(v for _, _, v in first + second) + ["plain"]
    everything = sorted(committed + [v for _, _, v in aborted])
    assert sorted(read(broker.bootstrap, PARTS, "read_committed", len(committed))) == committed
    assert sorted(read(broker.bootstrap, PARTS, "read_uncommitted", len(everything))) == everything
    # the committed transaction's offset reached the group; the aborted one's did not
    assert group.committed([TopicPartition("tin", 0)], 30)[0].offset == 42
    group.close()


def test_open_transaction_holds_back_read_committed_until_it_ends(broker):
    create_topic(broker.bootstrap, "ta", 2)
    create_topic(broker.bootstrap, "tb", 1)
    p = txn_producer(broker.bootstrap, "app-open")
    p.begin_transaction()
    for topic, part, v in spread("open", 3):
        p.produce(topic, value=v.encode(), partition=part)
    assert p.flush(30) == 0
    plain = Producer({"bootstrap.servers": broker.bootstrap})
    plain.produce("ta", value=b"after", partition=0)
    assert plain.flush(30) == 0
    # written, but neither the transaction nor what follows it is stable yet
    assert read(broker.bootstrap, PARTS, "read_committed", 0) == []
    assert len(read(broker.bootstrap, PARTS, "read_uncommitted", 10)) == 10
    with KafkaConsumer(bootstrap_servers=broker.bootstrap, isolation_level="read_committed") as k:
        tp = KTopicPartition("ta", 0)
        assert k.end_offsets([tp])[tp] == 0, "ListOffsets(latest, read_committed) answers the LSO"
    p.commit_transaction(30)
    assert len(read(broker.bootstrap, PARTS, "read_committed", 10)) == 10


def test_a_newer_producer_fences_the_older_and_aborts_its_transaction(broker):
    create_topic(broker.bootstrap, "ta", 2)
    create_topic(broker.bootstrap, "tb", 1)
    old = txn_producer(broker.bootstrap, "app-fence")
    old.begin_transaction()
    old.produce("ta", value=b"zombie", partition=0)
    assert old.flush(30) == 0
    new = txn_producer(broker.bootstrap, "app-fence")
    with pytest.raises(KafkaException) as raised:
        old.produce("ta", value=b"zombie-2", partition=0)
        old.commit_transaction(30)
    err = raised.value.args[0]
    assert err.fatal() or err.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED), err
    produce_txn(new, [("ta", 0, "fresh")])
    assert read(broker.bootstrap, [("ta", 0)], "read_committed", 1) == ["fresh"]
    assert sorted(read(broker.bootstrap, [("ta", 0)], "read_uncommitted", 2)) == ["fresh", "zombie"]


def test_a_timed_out_transaction_is_aborted(broker):
    create_topic(broker.bootstrap, "ta", 2)
    slow = txn_producer(broker.bootstrap, "app-slow", **{"transaction.timeout.ms": 2000, "message.timeout.ms": 2000})
    slow.begin_transaction()
    slow.produce("ta", value=b"stalled", partition=0)
    assert slow.flush(30) == 0
    plain = Producer({"bootstrap.servers": broker.bootstrap})
    plain.produce("ta", value=b"behind", partition=0)
    assert plain.flush(30) == 0
    # read_committed readers get past the stalled transaction once the broker aborts it
    assert read(broker.bootstrap, [("ta", 0)], "read_committed", 1, timeout=60) == ["behind"]
    with pytest.raises(KafkaException):
        slow.commit_transaction(30)


def test_broker_killed_mid_transaction(broker_factory):
    first = broker_factory()
    create_topic(first.bootstrap, "ta", 2)
    p = txn_producer(first.bootstrap, "app-crash")
    produce_txn(p, [("ta", 0, "kept-1"), ("ta", 1, "kept-2")])
    p.begin_transaction()
    p.produce("ta", value=b"in-flight", partition=0)
    assert p.flush(30) == 0
    first.kill()
    second = broker_factory()
    # the open transaction still holds the LSO where it began
    with KafkaConsumer(bootstrap_servers=second.bootstrap, isolation_level="read_committed") as k:
        tp = KTopicPartition("ta", 0)
        assert k.end_offsets([tp])[tp] == 2, "kept-1, its commit marker, then the open transaction"
    assert sorted(read(second.bootstrap, [("ta", 0), ("ta", 1)], "read_committed", 2)) == ["kept-1", "kept-2"]
    # the application restarts: its new producer aborts what the old one left open
    again = txn_producer(second.bootstrap, "app-crash")
    produce_txn(again, [("ta", 0, "after")])
    assert sorted(read(second.bootstrap, [("ta", 0), ("ta", 1)], "read_committed", 3)) == ["after", "kept-1", "kept-2"]
    assert "in-flight" in read(second.bootstrap, [("ta", 0)], "read_uncommitted", 3)


def test_kafka_python_transactions(broker):
    create_topic(broker.bootstrap, "kp", 2)
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id="kp-app")
    p.init_transactions()
    p.begin_transaction()
    for i in range(6):
        p.send("kp", value=b"yes-%d" % i, partition=i % 2)
    p.commit_transaction()
    p.begin_transaction()
    for i in range(4):
        p.send("kp", value=b"no-%d" % i, partition=i % 2)
    p.flush()  # on the broker before the abort: otherwise the client just drops them
    p.abort_transaction()
    p.close()
    with KafkaConsumer(
        bootstrap_servers=broker.bootstrap, isolation_level="read_committed", consumer_timeout_ms=3000, auto_offset_reset="earliest"
    ) as c:
        c.assign([KTopicPartition("kp", 0), KTopicPartition("kp", 1)])
        seen = sorted(m.value.decode() for m in c)
    assert seen == sorted(f"yes-{i}" for i in range(6))
    assert len(read(broker.bootstrap, [("kp", 0), ("kp", 1)], "read_uncommitted", 10)) == 10


def test_kafkajs_transactions(broker):
    result = subprocess.run(
        ["node", str(JS / "transactions.js"), broker.bootstrap, "kjs-txn"],
        capture_output=True,
        timeout=120,
        cwd=JS,
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    out = json.loads(result.stdout)
    assert sorted(out["committed"]) == sorted(f"yes-{i}" for i in range(5)), out
    assert out["offsets"][0]["partitions"][0]["offset"] == "7", out
    assert len(read(broker.bootstrap, [("kjs-txn", 0)], "read_uncommitted", 8)) == 8

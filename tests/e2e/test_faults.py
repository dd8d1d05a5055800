"""Store faults injected into the real broker through its fault layer: errors, latency,
a store that is down for a while, a restart while it is still down. Produce gets
retriable errors or succeeds; nothing acknowledged is lost; the broker recovers when
the store does."""

import threading
import time

from confluent_kafka import Producer

from clients import check_acked, create_topic

CONTROL = {"floe_storage__faults__control": "true", "floe_storage__retry__max_attempts": "2"}


def produce_through(broker, topic, n, during):
    """Produces n records idempotently while `during()` runs; returns what was acked."""
    acked, failed = {}, []

    def cb(err, msg):
        if err is None:
            acked[msg.value()] = (msg.partition(), msg.offset())
        else:
            failed.append(err)

    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "enable.idempotence": True,
                  "linger.ms": 5, "message.timeout.ms": 30000, "retry.backoff.ms": 50})
    t = threading.Thread(target=during)
    t.start()
    for i in range(n):
        p.produce(topic, value=b"f%06d" % i, key=b"k%d" % (i % 5), on_delivery=cb)
        p.poll(0)
        time.sleep(0.001)
    t.join()
    assert p.flush(60) == 0
    return acked, failed


def test_store_down_for_a_while_then_back(broker_factory):
    broker = broker_factory(**CONTROL)
    create_topic(broker.bootstrap, "outage", 2)

    def outage():
        time.sleep(0.5)
        broker.faults(down=True)
        time.sleep(2.0)
        broker.faults(down=False)

    acked, failed = produce_through(broker, "outage", 2000, outage)
    assert broker.metric("floe_store_requests_total", outcome="unavailable") > 0, "the outage happened"
    assert len(acked) == 2000, f"librdkafka retried through the outage: {len(failed)} failed"
    check_acked(broker.bootstrap, "outage", 2, acked)


def test_errors_latency_and_lost_answers(broker_factory):
    broker = broker_factory(**CONTROL)
    create_topic(broker.bootstrap, "flaky", 3)

    def flaky():
        broker.faults(error_rate=0.3, latency_ms=20, ambiguous_rate=0.2)
        time.sleep(3)
        broker.faults(error_rate=0, latency_ms=0, ambiguous_rate=0)

    acked, _ = produce_through(broker, "flaky", 1500, flaky)
    assert len(acked) > 0
    assert broker.metric("floe_store_requests_total", outcome="unavailable") > 0, "faults were injected"
    check_acked(broker.bootstrap, "flaky", 3, acked)


def test_restart_while_the_store_is_down(broker_factory):
    first = broker_factory(**CONTROL)
    create_topic(first.bootstrap, "patient", 1)
    acked, _ = produce_through(first, "patient", 200, lambda: None)
    first.kill()
    # the new broker starts with every store request failing: it waits, it does not exit
    second = broker_factory(wait=False, workdir=first.successor_workdir(), floe_storage__faults__error_rate="1.0", **CONTROL)
    time.sleep(1.5)
    assert second.alive(), second.tail()
    import socket

    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", second.port)) != 0, "not serving before it has its metadata"
    second.faults(error_rate=0)
    from conftest import wait_for_port

    wait_for_port(second.port, second.proc)
    check_acked(second.bootstrap, "patient", 1, acked)


def test_timeouts_and_errors_while_compaction_runs(broker_factory):
    """A store slower than the request timeout, and failing, while producers write,
    consumers read and compaction rewrites small objects: retriable errors or success,
    nothing acked lost or duplicated, and compaction completes once the store heals."""
    broker = broker_factory(
        floe_storage__request_timeout=100, floe_engine__compaction_interval=300,
        floe_engine__wal_upload_interval=20, floe_engine__delete_grace=0, **CONTROL,
    )
    create_topic(broker.bootstrap, "calm", 3)
    create_topic(broker.bootstrap, "slow", 3)
    calm, _ = produce_through(broker, "calm", 300, lambda: None)  # many small objects

    def slow():
        broker.faults(latency_ms=150, error_rate=0.2, ambiguous_rate=0.1)  # most requests time out
        time.sleep(3)
        broker.faults(latency_ms=0, error_rate=0, ambiguous_rate=0)

    slowed, _ = produce_through(broker, "slow", 800, slow)
    assert broker.metric("floe_store_requests_total", outcome="timeout") > 0, "requests timed out"
    deadline = time.monotonic() + 30
    while broker.metric("floe_compaction_objects_total") == 0 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert broker.metric("floe_compaction_objects_total") > 0, "compaction ran once the store healed"
    check_acked(broker.bootstrap, "calm", 3, calm)
    check_acked(broker.bootstrap, "slow", 3, slowed)


def test_transactions_through_lost_answers(broker_factory):
    """Transactions while store answers get lost: every transaction the producer saw
    commit is read exactly once by a read_committed consumer, and nothing else is."""
    from confluent_kafka import KafkaException

    from test_transactions import read

    # the object WAL: every transactional write meets the faulty store before its ack
    broker = broker_factory(floe_engine__wal="object", **CONTROL)
    create_topic(broker.bootstrap, "txn-flaky", 2)
    p = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "flaky-app", "linger.ms": 5,
                  "retry.backoff.ms": 50})
    p.init_transactions(60)
    broker.faults(ambiguous_rate=0.2, latency_ms=10)
    committed = []
    for t in range(8):
        values = [f"t{t}-{i}" for i in range(40)]
        p.begin_transaction()
        for i, v in enumerate(values):
            p.produce("txn-flaky", value=v.encode(), partition=i % 2)
        try:
            p.commit_transaction(60)
            committed += values
        except KafkaException as e:
            assert e.args[0].txn_requires_abort(), e
            p.abort_transaction(60)
    broker.faults(ambiguous_rate=0, latency_ms=0)
    assert broker.metric("floe_store_requests_total", outcome="unavailable") > 0, "faults were injected"
    assert committed, "some transaction committed"
    seen = read(broker.bootstrap, [("txn-flaky", 0), ("txn-flaky", 1)], "read_committed", len(committed))
    assert sorted(seen) == sorted(committed), "each committed record once, no aborted one"

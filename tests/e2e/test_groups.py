"""Consumer groups with real clients: shared partitions, rebalances, committed offsets
that survive a broker restart."""

import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from kafka import KafkaConsumer

from clients import confluent_produce, create_topic

PARTS = 4


def group_consumer(bootstrap, group, **extra):
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "fetch.wait.max.ms": 100,
    }
    conf.update(extra)
    return Consumer(conf)


def poll_until(consumers, seen, want, timeout=60):
    """Polls every consumer in turn until `want` distinct values were seen."""
    deadline = time.monotonic() + timeout
    while len(seen) < want and time.monotonic() < deadline:
        for name, c in consumers.items():
            msg = c.poll(0.2)
            if msg is not None and msg.error() is None:
                seen.setdefault(msg.value(), []).append((name, msg.partition(), msg.offset()))
                c.commit(message=msg, asynchronous=False)
    return seen


def produce_n(bootstrap, topic, start, n):
    confluent_produce(bootstrap, topic, [(b"k%d" % i, b"v%d" % i, [("h-index", b"%d" % i)]) for i in range(start, start + n)])


def assignment_when_stable(consumers, total, timeout=40):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in consumers:
            c.poll(0.1)
        parts = [sorted(tp.partition for tp in c.assignment()) for c in consumers]
        flat = sorted(p for ps in parts for p in ps)
        if flat == list(range(total)) and all(parts):
            return parts
    raise AssertionError(f"no stable assignment: {[c.assignment() for c in consumers]}")


def test_two_consumers_share_and_rebalance(broker):
    create_topic(broker.bootstrap, "shared", PARTS)
    a = group_consumer(broker.bootstrap, "g-share")
    b = group_consumer(broker.bootstrap, "g-share")
    a.subscribe(["shared"])
    b.subscribe(["shared"])
    parts = assignment_when_stable([a, b], PARTS)
    assert len(parts[0]) == 2 and len(parts[1]) == 2, parts
    produce_n(broker.bootstrap, "shared", 0, 200)
    seen = poll_until({"a": a, "b": b}, {}, 200)
    assert len(seen) == 200 and all(len(v) == 1 for v in seen.values()), "each record exactly once"
    assert {n for v in seen.values() for n, _, _ in v} == {"a", "b"}, "both consumers got records"
    # b leaves: a takes every partition and, resuming from the commits, sees only new records
    b.close()
    assert assignment_when_stable([a], PARTS) == [list(range(PARTS))]
    produce_n(broker.bootstrap, "shared", 200, 100)
    more = poll_until({"a": a}, {}, 100)
    a.close()
    assert sorted(more) == sorted(b"v%d" % i for i in range(200, 300)), "no loss, no duplicate"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    desc = admin.describe_consumer_groups(["g-share"])["g-share"].result(10)
    assert desc.group_id == "g-share" and not desc.members, "everyone left"
    listed = admin.list_consumer_groups().result(10)
    assert "g-share" in {g.group_id for g in listed.valid}


def test_committed_offsets_survive_broker_restart(broker_factory):
    first = broker_factory()
    create_topic(first.bootstrap, "resume", 2)
    produce_n(first.bootstrap, "resume", 0, 50)
    c = group_consumer(first.bootstrap, "g-resume")
    c.subscribe(["resume"])
    seen = poll_until({"c": c}, {}, 30)
    c.close()
    first.kill()
    second = broker_factory(workdir=first.successor_workdir())
    produce_n(second.bootstrap, "resume", 50, 20)
    c2 = group_consumer(second.bootstrap, "g-resume")
    c2.subscribe(["resume"])
    rest = poll_until({"c": c2}, {}, 40)
    committed = c2.committed([TopicPartition("resume", 0), TopicPartition("resume", 1)], timeout=10)
    c2.close()
    assert set(seen) | set(rest) == {b"v%d" % i for i in range(70)}, "nothing lost"
    assert not set(seen) & set(rest), "nothing consumed twice"
    assert sum(tp.offset for tp in committed) == 70


def test_kafka_python_group_consumer(broker):
    create_topic(broker.bootstrap, "kp-group", 3)
    produce_n(broker.bootstrap, "kp-group", 0, 60)
    consumer = KafkaConsumer(
        "kp-group", bootstrap_servers=broker.bootstrap, group_id="g-kp", auto_offset_reset="earliest",
        enable_auto_commit=False, fetch_max_wait_ms=100,
    )
    values = set()
    deadline = time.monotonic() + 60
    while len(values) < 60 and time.monotonic() < deadline:
        for _, msgs in consumer.poll(timeout_ms=500).items():
            values.update(m.value for m in msgs)
    consumer.commit()
    consumer.close()
    assert values == {b"v%d" % i for i in range(60)}
    again = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="g-kp", enable_auto_commit=False)
    from kafka import TopicPartition as KTP
    offsets = [again.committed(KTP("kp-group", p)) for p in range(3)]
    again.close()
    assert sum(offsets) == 60

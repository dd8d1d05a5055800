"""Thin wrappers around each real client, so that one scenario drives them all."""

import subprocess
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def create_topic(bootstrap, name, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)


def confluent_produce(bootstrap, topic, records, codec="none", **conf):
    """Produces (key, value, headers) with acks=all; returns {partition: [(offset, record)]}."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "compression.type": codec,
            "linger.ms": 5,
            "message.max.bytes": 4 << 20,
            **conf,
        }
    )
    delivered, errors = {}, []

    def on_delivery(err, msg, rec):
        if err is not None:
            errors.append(err)
        else:
            delivered.setdefault(msg.partition(), []).append((msg.offset(), rec))

    for rec in records:
        key, value, headers = rec
        producer.produce(topic, value=value, key=key, headers=headers, on_delivery=lambda e, m, r=rec: on_delivery(e, m, r))
        producer.poll(0)
    assert producer.flush(60) == 0, "messages left unflushed"
    assert not errors, errors
    return {p: sorted(v, key=lambda x: x[0]) for p, v in delivered.items()}


def confluent_consume(bootstrap, topic, partitions, expected_count, timeout=60):
    """Reads every partition from the beginning, without a group; returns
    {partition: [(offset, key, value, headers)]}."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            # the Python binding insists on a group id; assign() never joins the group
            "group.id": "floe-e2e-reader",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "fetch.wait.max.ms": 100,
            "enable.partition.eof": False,
        }
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    out, n = {}, 0
    deadline = time.monotonic() + timeout
    try:
        while n < expected_count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            out.setdefault(msg.partition(), []).append((msg.offset(), msg.key(), msg.value(), msg.headers() or []))
            n += 1
        # nothing beyond what was produced
        extra = consumer.poll(1.0)
        assert extra is None or extra.error() is not None, f"unexpected extra record at {extra.offset()}"
    finally:
        consumer.close()
    return out


def kcat(*args, input=None, timeout=60):
    result = subprocess.run(["kcat", *args], input=input, capture_output=True, timeout=timeout)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def consume_to_end(bootstrap, topic, partitions, timeout=180):
    """Every record of every partition, up to the high watermark at the start."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "crash-check", "enable.auto.commit": False})
    ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    out = {p: [] for p in range(partitions)}
    deadline = time.monotonic() + timeout
    while any(len(out[p]) < ends[p] for p in out) and time.monotonic() < deadline:
        for m in c.consume(10000, 1.0):
            assert m.error() is None, m.error()
            out[m.partition()].append((m.offset(), m.key(), m.value(), None))
    c.close()
    for p in out:
        assert len(out[p]) >= ends[p], f"partition {p}: read {len(out[p])} of {ends[p]}"
        out[p] = out[p][: ends[p]]
    return out


def check_acked(bootstrap, topic, partitions, acked):
    """Every acknowledged record ({value: (partition, offset)}) is stored exactly where it
    was acked, no record is stored twice, and offsets are contiguous. Records stored but
    never acked (the broker died, or the store failed, before answering) may be there too."""
    seen = {}
    for p, records in consume_to_end(bootstrap, topic, partitions).items():
        assert [o for o, *_ in records] == list(range(len(records))), f"partition {p}: offsets not contiguous"
        for offset, _, value, _ in records:
            assert value not in seen, f"{value} stored twice"
            seen[value] = (p, offset)
    for value, where in acked.items():
        assert seen.get(value) == where, f"acked {value} at {where}, found {seen.get(value)}"

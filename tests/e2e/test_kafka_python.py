"""kafka-python (pure Python protocol implementation) against the real broker."""

import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from scenario import CODECS, PARTITIONS, check_partitions, record


def kp_consume(bootstrap, topic, partitions, expected, timeout=60):
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
        fetch_max_wait_ms=100, max_partition_fetch_bytes=1 << 20,
    )
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    out, n = {}, 0
    deadline = time.monotonic() + timeout
    try:
        while n < expected and time.monotonic() < deadline:
            for tp, msgs in consumer.poll(timeout_ms=500).items():
                for m in msgs:
                    headers = [(k, v) for k, v in m.headers]
                    out.setdefault(tp.partition, []).append((m.offset, m.key, m.value, headers))
                    n += 1
        assert not any(consumer.poll(timeout_ms=1000).values()), "records beyond those produced"
    finally:
        consumer.close()
    return out


@pytest.mark.parametrize("codec", CODECS)
def test_kafka_python_round_trip(broker, codec):
    topic = f"kp-{codec}"
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    admin.close()
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap, acks="all",
        compression_type=None if codec == "none" else codec, linger_ms=5, max_request_size=4 << 20,
    )
    futures = []
    for i in range(300):
        key, value, headers = record(codec, i)
        futures.append(((key, value, headers), producer.send(topic, value=value, key=key, headers=headers)))
    producer.flush(60)
    by_partition = {}
    for rec, fut in futures:
        meta = fut.get(timeout=30)
        by_partition.setdefault(meta.partition, []).append((meta.offset, rec))
    producer.close()
    expected = {p: [rec for _, rec in sorted(v, key=lambda x: x[0])] for p, v in by_partition.items()}
    for p, recs in expected.items():
        idx = [int(dict(h)["h-index"]) for _, _, h in recs]
        assert idx == sorted(idx), f"partition {p} out of produce order"
    received = kp_consume(broker.bootstrap, topic, PARTITIONS, 300)
    check_partitions(received, expected)


def test_kafka_python_big_record_and_restart(broker_factory):
    first = broker_factory()
    admin = KafkaAdminClient(bootstrap_servers=first.bootstrap)
    admin.create_topics([NewTopic("kp-big", 1, 1)])
    admin.close()
    big = bytes(range(256)) * 4096
    producer = KafkaProducer(bootstrap_servers=first.bootstrap, acks="all", max_request_size=4 << 20)
    offsets = [producer.send("kp-big", value=v, key=b"k").get(timeout=30).offset for v in (b"a", big, b"b")]
    producer.close()
    assert offsets == [0, 1, 2]
    first.stop()  # a clean stop uploads what the file WAL holds: nothing stays on its disk
    second = broker_factory()
    received = kp_consume(second.bootstrap, "kp-big", 1, 3)
    assert [(o, v) for o, _, v, _ in received[0]] == [(0, b"a"), (1, big), (2, b"b")]


def test_kafka_python_default_producer_is_idempotent(broker):
    """kafka-python 3 (like the Java client) enables idempotence by default: it must just work."""
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    offsets = [producer.send("kp-default", value=b"v%d" % i).get(timeout=30).offset for i in range(5)]
    producer.close()
    assert offsets == list(range(5))
    assert broker.metric("floe_requests_total", api="InitProducerId") >= 1

"""`cleanup.policy=compact`: the cleaner keeps the latest record of each key, at the
offset it was acked with; every client reads the compacted log."""

import time

from confluent_kafka import OFFSET_BEGINNING, Consumer
from confluent_kafka import TopicPartition as CTopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer, TopicPartition

from clients import confluent_produce, kcat

KEYS, VERSIONS = 12, 15


def latest_acked(delivered):
    """{key: (offset, value)} of the last acked record of each key."""
    out = {}
    for records in delivered.values():
        for offset, (key, value, _) in records:
            if key not in out or out[key][0] < offset:
                out[key] = (offset, value)
    return out


def read_compacted(bootstrap, topic):
    """[(offset, key, value)] of partition 0 up to its high watermark: a compacted log
    has gaps, so reading stops at the end offset, not after a count."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "compact-check", "enable.auto.commit": False})
    end = c.get_watermark_offsets(CTopicPartition(topic, 0), timeout=10)[1]
    c.assign([CTopicPartition(topic, 0, OFFSET_BEGINNING)])
    out, deadline = [], time.monotonic() + 30
    while (not out or out[-1][0] < end - 1) and time.monotonic() < deadline:
        for m in c.consume(1000, 0.5):
            assert m.error() is None, m.error()
            out.append((m.offset(), m.key(), m.value()))
    c.close()
    return out


def test_compaction_keeps_the_latest_record_of_each_key(broker_factory):
    broker = broker_factory(floe_server__retention_check_interval=200)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("ledger", 1, 1, config={"cleanup.policy": "compact"})])["ledger"].result(10)
    delivered = {}
    for version in range(VERSIONS):  # one produce call per version: many batches, mixed codecs
        batch = [(b"key-%d" % k, b"v%d-of-key-%d" % (version, k), []) for k in range(KEYS)]
        codec = ["none", "zstd", "lz4", "gzip", "snappy"][version % 5]
        for p, records in confluent_produce(broker.bootstrap, "ledger", batch, codec).items():
            delivered.setdefault(p, []).extend(records)
    # a tombstone for key-0: its latest record is a delete
    for p, records in confluent_produce(broker.bootstrap, "ledger", [(b"key-0", None, [])]).items():
        delivered[p].extend(records)
    want = latest_acked(delivered)
    end = max(o for o, _ in want.values()) + 1
    deadline = time.monotonic() + 60
    while True:
        got = read_compacted(broker.bootstrap, "ledger")
        if len(got) == KEYS or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert sorted(got) == sorted((o, k, v) for k, (o, v) in want.items()), \
        "exactly the latest record of each key, where it was acked"
    assert broker.metric("floe_compaction_written_bytes_total") > 0

    # kcat (Debian's librdkafka 2.0.2) and kafka-python read the compacted log too
    out = kcat("-b", broker.bootstrap, "-C", "-t", "ledger", "-e", "-f", "%o %k\n").decode()
    assert sorted(out.split("\n")[:-1]) == sorted(f"{o} {k.decode()}" for k, (o, _) in want.items())
    kp = KafkaConsumer(bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=5000)
    kp.assign([TopicPartition("ledger", 0)])
    seen = {(m.offset, m.key, m.value) for m in kp}
    kp.close()
    assert seen == {(o, k, v) for k, (o, v) in want.items()}
    # and the log goes on after the holes
    more = confluent_produce(broker.bootstrap, "ledger", [(b"key-1", b"after", [])])
    assert more[0][0][0] == end

"""confluent-kafka (librdkafka) against the real broker, over each store."""

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from clients import confluent_consume, confluent_produce, create_topic
from scenario import CODECS, PARTITIONS, check_partitions, record


def expected_from(delivered):
    """Produce order must equal offset order within each partition."""
    out = {}
    for p, entries in delivered.items():
        indices = [int(dict(rec[2])["h-index"]) for _, rec in entries]
        assert indices == sorted(indices), f"partition {p}: acks out of produce order"
        out[p] = [rec for _, rec in entries]
    return out


@pytest.mark.parametrize("codec", CODECS)
def test_every_codec_round_trips(broker, codec):
    topic = f"codec-{codec}"
    create_topic(broker.bootstrap, topic, PARTITIONS)
    records = [record(codec, i) for i in range(300)]
    delivered = confluent_produce(broker.bootstrap, topic, records, codec)
    assert len(delivered) == PARTITIONS, "keys spread over every partition"
    received = confluent_consume(broker.bootstrap, topic, PARTITIONS, len(records))
    check_partitions(received, expected_from(delivered))


def test_one_mebibyte_record(broker):
    create_topic(broker.bootstrap, "big", 1)
    big = bytes(range(256)) * 4096  # 1 MiB
    records = [(b"small-1", b"x", [("h-index", b"0")]), (b"big", big, [("h-index", b"1")]), (b"small-2", b"y", [("h-index", b"2")])]
    delivered = confluent_produce(broker.bootstrap, "big", records, "none", **{"linger.ms": 0})
    received = confluent_consume(broker.bootstrap, "big", 1, 3)
    check_partitions(received, expected_from(delivered))
    assert received[0][1][2] == big


def test_restart_after_kill_9_keeps_everything(broker_factory):
    first = broker_factory()
    create_topic(first.bootstrap, "durable", PARTITIONS)
    records = [record("zstd", i) for i in range(500)]
    delivered = confluent_produce(first.bootstrap, "durable", records, "zstd")
    first.kill()  # kill -9: what was acked must survive
    # a new process on the same store, in a new, empty working directory unless the
    # file WAL in front of a bucket holds acked records only on the old one's disk
    second = broker_factory(workdir=first.successor_workdir())
    assert (second.workdir == first.workdir) == (first.wal == "file" and first.store.kind != "fs")
    meta = AdminClient({"bootstrap.servers": second.bootstrap}).list_topics(timeout=10)
    assert len(meta.topics["durable"].partitions) == PARTITIONS
    received = confluent_consume(second.bootstrap, "durable", PARTITIONS, len(records))
    check_partitions(received, expected_from(delivered))
    # and it carries on from where the first one stopped
    more = confluent_produce(second.bootstrap, "durable", [record("zstd", 1000)], "zstd")
    (partition, [(offset, _)]), = more.items()
    assert offset == len(delivered[partition])


def test_list_offsets_earliest_latest_and_by_time(broker):
    create_topic(broker.bootstrap, "times", 1)
    from confluent_kafka import Consumer, Producer

    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 0})
    for i, ts in enumerate([1_000, 2_000, 3_000]):
        p.produce("times", value=b"v%d" % i, timestamp=ts)
        p.flush(30)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "floe-e2e-times"})
    try:
        assert c.get_watermark_offsets(TopicPartition("times", 0), timeout=10) == (0, 3)
        found = c.offsets_for_times([TopicPartition("times", 0, 1_500)], timeout=10)
        assert found[0].offset == 1
        after = c.offsets_for_times([TopicPartition("times", 0, 9_999)], timeout=10)
        assert after[0].offset == -1  # nothing at or after: the end
    finally:
        c.close()


def test_delete_topic(broker):
    create_topic(broker.bootstrap, "doomed", 2)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.delete_topics(["doomed"])["doomed"].result(30)
    assert "doomed" not in admin.list_topics(timeout=10).topics
    # and the name can be used again, from offset 0
    create_topic(broker.bootstrap, "doomed", 1)
    delivered = confluent_produce(broker.bootstrap, "doomed", [(b"k", b"v", [("h-index", b"0")])])
    assert delivered[0][0][0] == 0


def test_acks_zero_and_one_are_accepted(broker):
    create_topic(broker.bootstrap, "acks", 1)
    for acks in ("0", "1"):
        confluent_produce(broker.bootstrap, "acks", [(b"k", acks.encode(), [])], **{"acks": acks})
    received = confluent_consume(broker.bootstrap, "acks", 1, 2)
    assert sorted(v for _, _, v, _ in received[0]) == [b"0", b"1"]


def test_idempotent_producer(broker):
    """librdkafka's idempotent producer: InitProducerId, sequence numbers, no duplicates."""
    create_topic(broker.bootstrap, "idem", PARTITIONS)
    records = [record("lz4", i) for i in range(400)]
    delivered = confluent_produce(
        broker.bootstrap, "idem", records, "lz4",
        **{"enable.idempotence": True, "max.in.flight.requests.per.connection": 5, "linger.ms": 1},
    )
    received = confluent_consume(broker.bootstrap, "idem", PARTITIONS, len(records))
    check_partitions(received, expected_from(delivered))
    assert broker.metric("floe_requests_total", api="InitProducerId") >= 1

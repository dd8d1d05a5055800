"""Admin APIs through confluent-kafka's AdminClient and kafka-python's admin client:
configs (described, altered, validated with Kafka's error codes), partitions, records,
cluster."""

import pytest
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from clients import confluent_consume, confluent_produce, create_topic


def admin(broker):
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def topic_configs(a, name):
    res = ConfigResource(ResourceType.TOPIC, name)
    return {k: v.value for k, v in a.describe_configs([res])[res].result(10).items()}


def test_describe_and_alter_topic_configs(broker):
    a = admin(broker)
    a.create_topics([NewTopic("cfg", 1, 1, config={"retention.ms": "3600000", "cleanup.policy": "delete"})])["cfg"].result(10)
    configs = topic_configs(a, "cfg")
    assert configs["retention.ms"] == "3600000"
    assert configs["max.message.bytes"] == "1048588"  # Kafka's default, reported
    res = ConfigResource(ResourceType.TOPIC, "cfg", incremental_configs=[
        ConfigEntry("retention.bytes", "1048576", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
    ])
    a.incremental_alter_configs([res])[res].result(10)
    configs = topic_configs(a, "cfg")
    assert configs["retention.bytes"] == "1048576"
    assert configs["retention.ms"] == "604800000", "deleted: back to the default"


@pytest.mark.parametrize("name,value", [("retention.ms", "-5"), ("cleanup.policy", "shred"), ("no.such.thing", "1")])
def test_invalid_configs_are_rejected_with_kafka_codes(broker, name, value):
    a = admin(broker)
    with pytest.raises(KafkaException) as err:
        a.create_topics([NewTopic("bad-cfg", 1, 1, config={name: value})])["bad-cfg"].result(10)
    assert err.value.args[0].code() == 40  # INVALID_CONFIG
    create_topic(broker.bootstrap, "good-cfg", 1)
    res = ConfigResource(ResourceType.TOPIC, "good-cfg", incremental_configs=[
        ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as err:
        a.incremental_alter_configs([res])[res].result(10)
    assert err.value.args[0].code() == 40


def test_create_partitions_grows_only(broker):
    a = admin(broker)
    create_topic(broker.bootstrap, "grow", 2)
    a.create_partitions([NewPartitions("grow", 5)])["grow"].result(10)
    assert len(a.list_topics(timeout=10).topics["grow"].partitions) == 5
    with pytest.raises(KafkaException) as err:
        a.create_partitions([NewPartitions("grow", 3)])["grow"].result(10)
    assert err.value.args[0].code() == 37  # INVALID_PARTITIONS
    confluent_produce(broker.bootstrap, "grow", [(None, b"x", [])], **{"partitioner": "random"})


def test_delete_records_moves_the_low_watermark(broker):
    a = admin(broker)
    create_topic(broker.bootstrap, "trim", 1)
    confluent_produce(broker.bootstrap, "trim", [(b"k", b"v%d" % i, []) for i in range(10)])
    done = a.delete_records([TopicPartition("trim", 0, 6)])
    low = list(done.values())[0].result(10)
    assert low.low_watermark == 6
    received = confluent_consume(broker.bootstrap, "trim", 1, 4)
    assert [o for o, *_ in received[0]] == [6, 7, 8, 9]


def test_describe_cluster(broker):
    a = admin(broker)  # kept alive until the answer arrives
    desc = a.describe_cluster().result(10)
    assert desc.cluster_id == "floe-cluster"
    assert [n.id for n in desc.nodes] == [0]
    assert desc.controller.id == 0


def test_retention_bytes_trims_and_deletes_objects(broker_factory):
    import time

    from confluent_kafka import Consumer

    # the object WAL: one block per produce call, so the expected low watermark is exact
    broker = broker_factory(
        floe_server__retention_check_interval=200, floe_engine__delete_grace=0, floe_engine__wal="object"
    )
    a = admin(broker)
    a.create_topics([NewTopic("bounded", 1, 1, config={"retention.bytes": "20000"})])["bounded"].result(10)
    for _ in range(20):  # 20 produce calls, 20 objects of ~5 KB
        confluent_produce(broker.bootstrap, "bounded", [(b"k", b"x" * 500, []) for _ in range(10)], **{"linger.ms": 0})
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "wm"})
    deadline = time.monotonic() + 20
    history = []
    while time.monotonic() < deadline:  # until the low watermark has settled
        history.append(c.get_watermark_offsets(TopicPartition("bounded", 0), timeout=10))
        if len(history) > 5 and history[-1][0] > 0 and history[-1] == history[-6]:
            break
        time.sleep(0.2)
    c.close()
    low, high = history[-1]
    assert high == 200
    # each produce call made a block of ~5.6 KB: the newest ones holding >= 20000 bytes stay
    assert 140 <= low <= 170, f"about 20 KB kept of 112 KB: low watermark {low}"
    assert broker.metric("floe_store_requests_total", op="delete") > 0, "trimmed objects are deleted"
    received = confluent_consume(broker.bootstrap, "bounded", 1, high - low)
    assert received[0][0][0] == low

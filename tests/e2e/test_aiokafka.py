"""aiokafka (asyncio, pure-Python protocol) against the real broker."""

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from clients import create_topic
from scenario import PARTITIONS, check_partitions, record


async def round_trip(bootstrap, topic, codec):
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
        compression_type=None if codec == "none" else codec, linger_ms=5,
    )
    await producer.start()
    by_partition = {}
    try:
        for i in range(200):
            key, value, headers = record(codec, i)
            meta = await (await producer.send(topic, value=value, key=key, headers=headers))
            by_partition.setdefault(meta.partition, []).append((meta.offset, (key, value, headers)))
    finally:
        await producer.stop()
    expected = {p: [rec for _, rec in sorted(v, key=lambda x: x[0])] for p, v in by_partition.items()}

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id="aio-readers", auto_offset_reset="earliest",
                                enable_auto_commit=False, fetch_max_wait_ms=100)
    consumer.subscribe([topic])
    await consumer.start()
    received, n = {}, 0
    try:
        while n < 200:
            batches = await asyncio.wait_for(consumer.getmany(timeout_ms=500), 60)
            for tp, msgs in batches.items():
                for m in msgs:
                    received.setdefault(tp.partition, []).append((m.offset, m.key, m.value, list(m.headers)))
                    n += 1
        await consumer.commit()
        committed = [await consumer.committed(TopicPartition(topic, p)) for p in range(PARTITIONS)]
    finally:
        await consumer.stop()
    return received, expected, committed


def test_aiokafka_idempotent_produce_and_group_consume(broker):
    create_topic(broker.bootstrap, "aio", PARTITIONS)
    received, expected, committed = asyncio.run(round_trip(broker.bootstrap, "aio", "gzip"))
    check_partitions(received, expected)
    assert sum(c for c in committed if c) == 200

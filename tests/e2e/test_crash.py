"""kill -9 in the middle of a heavy produce, many times: after every restart each
acknowledged record is readable exactly once, in order, at the offset it was acked
with, and offsets stay contiguous."""

import random
import threading
import time

from confluent_kafka import Producer

from clients import create_topic
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

CYCLES = 20


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


class AckRecorder:
    """A producer thread that records exactly what the broker acknowledged."""

    def __init__(self, bootstrap, topic, start):
        self.acked = {}  # value -> (partition, offset)
        self.next = start
        self.stop = threading.Event()
        self.producer = Producer({
            "bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 2,
            "enable.idempotence": True, "message.timeout.ms": 1000,
            "reconnect.backoff.max.ms": 100,
        })
        self.thread = threading.Thread(target=self.run, daemon=True)

    def on_delivery(self, err, msg):
        if err is None:
            self.acked[msg.value()] = (msg.partition(), msg.offset())

    def run(self):
        while not self.stop.is_set():
            try:
                self.producer.produce("crash", value=b"r%08d" % self.next, key=b"k%d" % (self.next % 7),
                                      on_delivery=self.on_delivery)
                self.next += 1
            except BufferError:
                pass
            # ~10k records/s: heavy enough that every kill lands mid-flight, light
            # enough that reading everything back stays quick
            self.producer.poll(0.0001)

    def finish(self):
        self.stop.set()
        self.thread.join()
        self.producer.flush(10)  # outstanding messages fail (broker dead) or are acked


def test_kill_minus_nine_loses_no_acked_record(broker_factory):
    rng = random.Random(1234)
    broker = broker_factory()
    create_topic(broker.bootstrap, "crash", 3)
    acked, sent = {}, 0
    for cycle in range(CYCLES):
        rec = AckRecorder(broker.bootstrap, "crash", sent)
        rec.thread.start()
        time.sleep(rng.uniform(0.2, 1.0))
        broker.kill()
        rec.finish()
        sent = rec.next
        for value, where in rec.acked.items():
            assert acked.setdefault(value, where) == where, f"{value} acked twice at different offsets"
        broker = broker_factory()
    assert len(acked) > CYCLES * 10, f"only {len(acked)} records acked: the test did not load the broker"
    # every acked record is there, where it was acked; every offset holds one record.
    # Records stored but never acked (the broker died before answering) may be there too.
    received = consume_to_end(broker.bootstrap, "crash", 3)
    seen = {}
    for p, records in received.items():
        assert [o for o, *_ in records] == list(range(len(records))), f"partition {p}: offsets not contiguous"
        for offset, _, value, _ in records:
            assert value not in seen, f"{value} stored twice"
            seen[value] = (p, offset)
    for value, where in acked.items():
        assert seen.get(value) == where, f"acked {value} at {where}, found {seen.get(value)}"

"""kill -9 in the middle of a heavy produce, many times: after every restart each
acknowledged record is readable exactly once, in order, at the offset it was acked
with, and offsets stay contiguous."""

import random
import threading
import time

import pytest
from confluent_kafka import Producer

from clients import check_acked, create_topic

CYCLES = 20


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


@pytest.mark.parametrize("wal", ["file", "object"])
def test_kill_minus_nine_loses_no_acked_record(broker_factory, wal):
    rng = random.Random(1234)
    broker = broker_factory(floe_engine__wal=wal)
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
        broker = broker_factory(workdir=broker.successor_workdir(), floe_engine__wal=wal)
    assert len(acked) > CYCLES * 10, f"only {len(acked)} records acked: the test did not load the broker"
    check_acked(broker.bootstrap, "crash", 3, acked)

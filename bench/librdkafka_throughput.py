#!/usr/bin/env python3
"""Produce/consume throughput of the real `floe` binary with librdkafka (confluent-kafka),
and the object-store requests Floe itself counted, per GiB produced.

Runs Floe over a local directory and over S3 (moto_server on loopback) one after the
other in the same invocation, so the two are compared on the same machine in the same
minutes. The interim benchmark until floe-bench (issue 6) lands.

    python3 bench/librdkafka_throughput.py --mib 1024 --out bench/results/librdkafka.md
"""

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition  # noqa: E402

from conftest import BUCKET, Broker, Store, free_port, wait_for_port  # noqa: E402
from clients import create_topic  # noqa: E402

OPS = ["put", "put_if_absent", "get", "get_range", "delete", "list"]


def counters(broker):
    out = {}
    for op in OPS:
        out[op] = broker.metric("floe_store_requests_total", op=op)
        out[op + "_bytes_sent"] = broker.metric("floe_store_bytes_total", op=op, direction="sent")
        out[op + "_bytes_received"] = broker.metric("floe_store_bytes_total", op=op, direction="received")
    return out


def produce(bootstrap, topic, total_bytes, record_size, partitions):
    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "linger.ms": 5,
            "batch.size": 1 << 20,
            "queue.buffering.max.kbytes": 1 << 20,
            "compression.type": "none",
        }
    )
    value = os.urandom(record_size)
    n = total_bytes // record_size
    errors = []

    def cb(err, _msg):
        if err is not None:
            errors.append(err)

    start = time.monotonic()
    for i in range(n):
        while True:
            try:
                p.produce(topic, value=value, partition=i % partitions, on_delivery=cb)
                break
            except BufferError:
                p.poll(0.01)
        if i % 1000 == 0:
            p.poll(0)
    left = p.flush(300)
    elapsed = time.monotonic() - start
    assert left == 0 and not errors, (left, errors[:3])
    return n, elapsed


def consume(bootstrap, topic, partitions, expected):
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bench",
            "enable.auto.commit": False,
            "fetch.max.bytes": 64 << 20,
            "max.partition.fetch.bytes": 8 << 20,
        }
    )
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    got, nbytes = 0, 0
    start = time.monotonic()
    while got < expected:
        msgs = c.consume(10000, 1.0)
        for m in msgs:
            assert m.error() is None, m.error()
            nbytes += len(m.value())
        got += len(msgs)
        if time.monotonic() - start > 600:
            raise TimeoutError(f"consumed {got}/{expected}")
    elapsed = time.monotonic() - start
    c.close()
    return nbytes, elapsed


def run(store, args):
    broker = Broker(store, {"FLOE_SERVER__LOG": "warn"}).start()
    try:
        topic = "bench"
        create_topic(broker.bootstrap, topic, args.partitions)
        before = counters(broker)
        n, p_secs = produce(broker.bootstrap, topic, args.mib << 20, args.record_size, args.partitions)
        after = counters(broker)
        produced = n * args.record_size
        t_bytes, t_secs = consume(broker.bootstrap, topic, args.partitions, n)
        broker.stop()
        # a new broker on the same store: every read now comes from the object store
        cold = Broker(store, {"FLOE_SERVER__LOG": "warn"}).start()
        try:
            before_cold = counters(cold)
            c_bytes, c_secs = consume(cold.bootstrap, topic, args.partitions, n)
            after_cold = counters(cold)
        finally:
            cold.cleanup()
    finally:
        broker.cleanup()
    gib = produced / (1 << 30)
    per_gib = {k: (after[k] - before[k]) / gib for k in after}
    cold_gets = sum(after_cold[k] - before_cold[k] for k in ("get", "get_range")) / gib
    return {
        "store": store.kind,
        "produce_mbs": produced / p_secs / 1e6,
        "tail_consume_mbs": t_bytes / t_secs / 1e6,
        "cold_consume_mbs": c_bytes / c_secs / 1e6,
        "per_gib": per_gib,
        "cold_get_per_gib": cold_gets,
        "produced": produced,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--record-size", type=int, default=1024)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--stores", default="fs,s3")
    ap.add_argument("--out")
    args = ap.parse_args()
    results = []
    moto = None
    for kind in args.stores.split(","):
        if kind == "fs":
            root = tempfile.mkdtemp(prefix="floe-bench-")
            results.append(run(Store("fs", {"FLOE_STORAGE__SCHEME": "fs", "FLOE_STORAGE__ROOT": root}), args))
        elif kind == "s3":
            port = free_port()
            moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_for_port(port, moto)
            endpoint = f"http://127.0.0.1:{port}"
            urllib.request.urlopen(urllib.request.Request(f"{endpoint}/{BUCKET}", method="PUT"))
            env = {
                "FLOE_STORAGE__SCHEME": "s3", "FLOE_STORAGE__BUCKET": BUCKET, "FLOE_STORAGE__ROOT": "/bench/",
                "FLOE_STORAGE__ENDPOINT": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
            }
            try:
                results.append(run(Store("s3", env), args))
            finally:
                moto.terminate()
                moto.wait()
    lines = [
        f"# librdkafka throughput and object-store requests per GiB",
        "",
        f"Command: `python3 bench/librdkafka_throughput.py --mib {args.mib} --record-size {args.record_size} "
        f"--partitions {args.partitions} --stores {args.stores}`",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}; "
        f"Floe and the client and the store on the same machine. Date: {time.strftime('%Y-%m-%d')}.",
        "Producer: confluent-kafka (librdkafka), acks=all, linger.ms=5, batch.size=1 MiB, no compression.",
        "Tail consume: right after producing (log cache). Cold consume: a new broker on the same store.",
        "",
        "| store | produce MB/s | tail consume MB/s | cold consume MB/s | PUT/GiB | put-if-absent/GiB | GET/GiB (cold) | MiB per data PUT |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        g = r["per_gib"]
        mib_per_put = (g["put_bytes_sent"] / g["put"] / (1 << 20)) if g["put"] else 0
        lines.append(
            f"| {r['store']} | {r['produce_mbs']:.1f} | {r['tail_consume_mbs']:.1f} | {r['cold_consume_mbs']:.1f} "
            f"| {g['put']:.0f} | {g['put_if_absent']:.0f} | {r['cold_get_per_gib']:.0f} | {mib_per_put:.2f} |"
        )
    lines.append("")
    lines.append("Bytes per GiB produced (sent to the store): " + ", ".join(
        f"{r['store']}: {r['per_gib']['put_bytes_sent'] / (1 << 30):.3f} GiB data + "
        f"{r['per_gib']['put_if_absent_bytes_sent'] / (1 << 20):.2f} MiB metadata" for r in results))
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()

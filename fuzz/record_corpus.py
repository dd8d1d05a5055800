#!/usr/bin/env python3
"""Records the request frames real clients send, as seeds for the `request` fuzz target.

Starts a broker (FLOE_BIN), puts a recording proxy in front of it, drives kcat,
confluent-kafka and kafka-python through the proxy, and writes each distinct request
frame (size prefix removed) to fuzz/corpus/request/.

    FLOE_BIN=target/debug/floe python3 fuzz/record_corpus.py
"""

import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "e2e"))

from conftest import Broker, Store, free_port  # noqa: E402

OUT = HERE / "corpus" / "request"


def pump(src, dst, record):
    buf = b""
    try:
        while True:
            chunk = src.recv(65536)
            if not chunk:
                break
            dst.sendall(chunk)
            if record:
                buf += chunk
                while len(buf) >= 4:
                    size = int.from_bytes(buf[:4], "big")
                    if len(buf) < 4 + size:
                        break
                    frame, buf = buf[4 : 4 + size], buf[4 + size :]
                    if size <= 1 << 20:
                        name = hashlib.sha1(frame).hexdigest()[:16]
                        (OUT / name).write_bytes(frame)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def proxy(listen_port, upstream_port):
    server = socket.create_server(("127.0.0.1", listen_port))
    while True:
        client, _ = server.accept()
        upstream = socket.create_connection(("127.0.0.1", upstream_port))
        threading.Thread(target=pump, args=(client, upstream, True), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client, False), daemon=True).start()


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    root = tempfile.mkdtemp(prefix="floe-corpus-")
    port = free_port()
    # The broker advertises the proxy's address, so clients keep talking through it.
    broker = Broker(Store("fs", {"FLOE_STORAGE__ROOT": root}), {
        "FLOE_SERVER__ADVERTISED_PORT": str(port), "FLOE_SERVER__ADVERTISED_HOST": "127.0.0.1"}).start()
    threading.Thread(target=proxy, args=(port, broker.port), daemon=True).start()
    time.sleep(0.3)
    boot = f"127.0.0.1:{port}"
    from clients import confluent_produce, create_topic
    from test_groups import group_consumer, poll_until

    create_topic(boot, "seed", 2)
    for codec in ("none", "gzip", "zstd"):
        subprocess.run(["kcat", "-P", "-b", boot, "-t", "seed", "-z", codec, "-K:", "-H", "h=v"],
                       input=b"k1:v1\nk2:v2\n", check=True, timeout=30)
    subprocess.run(["kcat", "-C", "-b", boot, "-t", "seed", "-e", "-q"], check=True, timeout=30, capture_output=True)
    confluent_produce(boot, "seed", [(b"k", b"v", [("h", b"1")])] * 3, "lz4", **{"enable.idempotence": True})
    c = group_consumer(boot, "seed-group")
    c.subscribe(["seed"])
    poll_until({"c": c}, {}, 3, timeout=15)
    c.close()
    from kafka import KafkaConsumer, KafkaProducer

    p = KafkaProducer(bootstrap_servers=boot)
    p.send("seed", b"kp").get(timeout=10)
    p.close()
    kc = KafkaConsumer("seed", bootstrap_servers=boot, group_id="kp-seed", auto_offset_reset="earliest")
    kc.poll(timeout_ms=2000)
    kc.close()
    broker.cleanup()
    print(f"{len(list(OUT.iterdir()))} seeds in {OUT}")


if __name__ == "__main__":
    main()

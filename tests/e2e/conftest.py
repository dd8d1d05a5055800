"""Harness for Floe's end-to-end tests: the real `floe` binary, real clients, and real
stores (a local directory, and moto_server speaking S3 on loopback).

Every scenario runs once per store through the `store` fixture. FLOE_BIN names the
binary (the test command builds it); nothing else is assumed about the machine.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FLOE_BIN = os.environ.get("FLOE_BIN", str(REPO / "target" / "release" / "floe"))
BUCKET = "floe-test"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc=None, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port}")


@pytest.fixture(scope="session")
def moto():
    """One moto_server for the session, with the test bucket."""
    port = free_port()
    log = open(Path(tempfile.gettempdir()) / f"moto-{port}.log", "w")
    proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    try:
        wait_for_port(port, proc)
        endpoint = f"http://127.0.0.1:{port}"
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/{BUCKET}", method="PUT"))
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class Store:
    """Where a test's brokers keep their data: `env` points a broker at it. `wal` is the
    broker's default WAL over this store: the file WAL over a local directory, the object
    WAL over a bucket."""

    def __init__(self, kind, env):
        self.kind = kind
        self.env = env
        self.wal = "file" if kind == "fs" else "object"


@pytest.fixture(params=["fs", "s3"])
def store(request, tmp_path):
    if request.param == "fs":
        yield Store("fs", {"FLOE_STORAGE__SCHEME": "fs", "FLOE_STORAGE__ROOT": str(tmp_path / "bucket")})
    else:
        endpoint = request.getfixturevalue("moto")
        yield Store(
            "s3",
            {
                "FLOE_STORAGE__SCHEME": "s3",
                "FLOE_STORAGE__BUCKET": BUCKET,
                # a fresh prefix per test: tests share the bucket, never the data
                "FLOE_STORAGE__ROOT": f"/{uuid.uuid4().hex}/",
                "FLOE_STORAGE__ENDPOINT": endpoint,
                "FLOE_STORAGE__PATH_STYLE": "true",
                "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test",
            },
        )


class Broker:
    """A running `floe serve`, started in `workdir` (its disk), or in a fresh, empty one."""

    def __init__(self, store, extra_env=None, workdir=None):
        self.store = store
        self.extra_env = extra_env or {}
        self.proc = None
        self.workdir = workdir
        self.wal = self.extra_env.get("FLOE_ENGINE__WAL", store.wal)

    def successor_workdir(self):
        """Where a broker replacing this one starts: in its working directory when
        acknowledged records may live only there (the file WAL in front of a bucket),
        else in a new, empty one. A broker with the object WAL keeps nothing that
        matters; over a local directory the file WAL lives beside the data, where the
        next broker adopts it from wherever it starts."""
        return self.workdir if self.wal == "file" and self.store.kind != "fs" else None

    def start(self, wait=True):
        self.port = free_port()
        self.metrics_port = free_port()
        if self.workdir is None:
            self.workdir = tempfile.mkdtemp(prefix="floe-node-")
        env = dict(os.environ)
        env.update(self.store.env)
        env.update(
            {
                "FLOE_SERVER__LISTEN": f"127.0.0.1:{self.port}",
                "FLOE_SERVER__METRICS_LISTEN": f"127.0.0.1:{self.metrics_port}",
                "FLOE_SERVER__LOG": "info,floe_broker=debug",
                "FLOE_ENGINE__WAL_WINDOW": "5",
            }
        )
        env.update(self.extra_env)
        self.log_path = Path(self.workdir) / f"floe-{self.port}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([FLOE_BIN, "serve"], cwd=self.workdir, env=env, stdout=self.log, stderr=self.log)
        wait_for_port(self.port if wait else self.metrics_port, self.proc)
        return self

    def faults(self, **settings):
        """Changes injected store faults while the broker runs (needs faults.control)."""
        query = "&".join(f"{k}={str(v).lower()}" for k, v in settings.items())
        req = urllib.request.Request(f"http://127.0.0.1:{self.metrics_port}/faults?{query}", method="POST")
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return r.read().decode()

    def metric(self, name, **labels):
        """Sum of a metric's samples whose labels include `labels`."""
        total = 0.0
        for line in self.metrics().splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            head, value = line.rsplit(" ", 1)
            metric, _, rest = head.partition("{")
            if metric != name:
                continue
            got = dict(kv.split("=", 1) for kv in rest.rstrip("}").split(",") if kv)
            if all(got.get(k) == f'"{v}"' for k, v in labels.items()):
                total += float(value)
        return total

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        self.proc = None

    def kill(self):
        self.stop(signal.SIGKILL)

    def cleanup(self):
        self.stop()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def tail(self, n=40):
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-n:])
        except OSError:
            return ""


@pytest.fixture
def broker_factory(store):
    brokers = []

    def make(wait=True, workdir=None, **extra_env):
        b = Broker(store, {k.upper(): str(v) for k, v in extra_env.items()}, workdir).start(wait)
        brokers.append(b)
        return b

    yield make
    for b in brokers:
        b.cleanup()


@pytest.fixture
def broker(broker_factory):
    return broker_factory()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, show the broker's log: the test's own output rarely says enough."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        for name in ("broker",):
            b = item.funcargs.get(name)
            if isinstance(b, Broker):
                report.sections.append(("floe log", b.tail()))

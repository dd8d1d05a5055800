"""The `floe` command line: config show, and the admin subcommands against a broker."""

import os
import subprocess

from clients import confluent_produce
from conftest import FLOE_BIN
from test_groups import group_consumer, poll_until


def floe(*args, env=None, check=True):
    result = subprocess.run([FLOE_BIN, *args], capture_output=True, timeout=60, env=env)
    if check:
        assert result.returncode == 0, result.stderr.decode()[-2000:]
    return result


def test_config_show_merges_layers_and_redacts_secrets(tmp_path):
    env = dict(os.environ, FLOE_STORAGE__BUCKET="my-bucket", FLOE_STORAGE__OPTIONS__SECRET_ACCESS_KEY="hunter2")
    out = floe("config", "show", "--profile", "aws", env=env).stdout.decode()
    assert 'scheme = "s3"' in out and 'bucket = "my-bucket"' in out
    assert "hunter2" not in out and "redacted" in out
    (tmp_path / "bad.toml").write_text('[storage.options]\nsecret_access_key = "x"\n')
    bad = floe("config", "show", "--config", str(tmp_path / "bad.toml"), check=False)
    assert bad.returncode != 0 and b"environment" in bad.stderr


def test_admin_commands(broker):
    b = ["-b", broker.bootstrap]
    floe("topics", *b, "create", "cli", "--partitions", "2", "--config", "retention.ms=3600000")
    assert "cli" in floe("topics", *b, "list").stdout.decode().split()
    confluent_produce(broker.bootstrap, "cli", [(b"k", b"v%d" % i, []) for i in range(5)])
    described = floe("topics", *b, "describe", "cli").stdout.decode()
    assert "2 partitions" in described and "config retention.ms=3600000" in described
    floe("configs", *b, "set", "cli", "retention.bytes=1048576")
    configs = floe("configs", *b, "describe", "cli").stdout.decode()
    assert "retention.bytes=1048576\n" in configs and "max.message.bytes=1048588  (default)" in configs
    floe("configs", *b, "delete", "cli", "retention.ms")
    assert "retention.ms=604800000  (default)" in floe("configs", *b, "describe", "cli").stdout.decode()
    bad = floe("configs", *b, "set", "cli", "retention.ms=-9", check=False)
    assert bad.returncode != 0 and b"InvalidConfig" in bad.stderr
    c = group_consumer(broker.bootstrap, "cli-group")
    c.subscribe(["cli"])
    poll_until({"c": c}, {}, 5)
    c.close()
    assert "cli-group" in floe("groups", *b, "list").stdout.decode()
    group = floe("groups", *b, "describe", "cli-group").stdout.decode()
    assert "state Empty" in group and "cli  " in group
    floe("groups", *b, "delete", "cli-group")
    floe("topics", *b, "delete", "cli")
    assert "cli" not in floe("topics", *b, "list").stdout.decode().split()

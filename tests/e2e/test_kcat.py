"""kcat, linked against Debian's librdkafka 2.0.2, against the real broker."""

import pytest

from clients import create_topic, kcat
from scenario import CODECS, PARTITIONS


@pytest.mark.parametrize("codec", CODECS)
def test_kcat_produce_consume(broker, codec):
    topic = f"kcat-{codec}"
    create_topic(broker.bootstrap, topic, PARTITIONS)
    lines = [f"key-{i % 11}|{codec}-value-{i}" for i in range(200)]
    kcat(
        "-P", "-b", broker.bootstrap, "-t", topic, "-K", "|", "-z", codec,
        "-X", "acks=all", "-H", "origin=kcat", "-H", f"codec={codec}",
        input=("\n".join(lines) + "\n").encode(),
    )
    out = kcat("-C", "-b", broker.bootstrap, "-t", topic, "-e", "-q", "-f", "%p|%o|%k|%s|%h\n")
    by_partition = {}
    for line in out.decode().splitlines():
        p, o, k, v, h = line.split("|")
        by_partition.setdefault(int(p), []).append((int(o), k, v, h))
    assert len(by_partition) == PARTITIONS
    seen = []
    for p, recs in by_partition.items():
        assert [o for o, *_ in recs] == list(range(len(recs))), f"partition {p} offsets"
        indices = [int(v.rsplit("-", 1)[1]) for _, _, v, _ in recs]
        assert indices == sorted(indices), f"partition {p} out of order"
        for _, k, v, h in recs:
            i = int(v.rsplit("-", 1)[1])
            assert k == f"key-{i % 11}" and v == f"{codec}-value-{i}"
            assert h == f"origin=kcat,codec={codec}"
            seen.append(i)
    assert sorted(seen) == list(range(200))


def test_kcat_metadata_and_auto_create(broker):
    kcat("-P", "-b", broker.bootstrap, "-t", "auto-made", input=b"hello\n")
    meta = kcat("-L", "-b", broker.bootstrap, "-t", "auto-made").decode()
    assert 'topic "auto-made" with 1 partitions' in meta
    assert kcat("-C", "-b", broker.bootstrap, "-t", "auto-made", "-e", "-q") == b"hello\n"

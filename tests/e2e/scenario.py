"""The records every client produces and checks: written once, used by each client's
tests. Keys, values and headers are derived from the index, so any loss, duplicate,
reordering or corruption shows up as a mismatch."""

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
PARTITIONS = 3


def record(codec, i):
    key = f"key-{i % 17}".encode()
    value = f"{codec}-value-{i}-".encode() + bytes((i * 7 + j) % 256 for j in range(i % 50))
    headers = [("h-index", str(i).encode()), ("h-codec", codec.encode())]
    return key, value, headers


def check_partitions(received, expected_by_partition):
    """`received`: {partition: [(offset, key, value, headers)]} as consumed.
    `expected_by_partition`: {partition: [(key, value, headers)]} in produce order.
    Checks order, contiguous offsets from 0, and every byte."""
    assert sorted(received) == sorted(p for p, recs in expected_by_partition.items() if recs), received.keys()
    for p, expected in expected_by_partition.items():
        got = received.get(p, [])
        assert len(got) == len(expected), f"partition {p}: {len(got)} records, expected {len(expected)}"
        for n, ((offset, key, value, headers), (ekey, evalue, eheaders)) in enumerate(zip(got, expected)):
            assert offset == n, f"partition {p}: record {n} has offset {offset}"
            assert key == ekey, f"partition {p} offset {offset}: key {key!r} != {ekey!r}"
            assert value == evalue, f"partition {p} offset {offset}: value differs"
            assert list(headers) == list(eheaders), f"partition {p} offset {offset}: headers {headers} != {eheaders}"

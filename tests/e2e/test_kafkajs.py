"""kafkajs (Node.js) against the real broker; the client runs as a node script."""

import json
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent / "js"


def test_kafkajs_round_trip(broker):
    result = subprocess.run(
        ["node", str(HERE / "roundtrip.js"), broker.bootstrap, "kjs", "100"],
        capture_output=True, timeout=120, cwd=HERE,
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    out = json.loads(result.stdout)
    received = out["received"]
    assert sorted(int(r["index"]) for r in received) == list(range(100)), "every record exactly once"
    by_partition = {}
    for r in received:
        assert r["value"] == f"value-{r['index']}" and r["key"] == f"key-{int(r['index']) % 5}"
        by_partition.setdefault(r["partition"], []).append(r)
    for p, recs in by_partition.items():
        assert [r["offset"] for r in recs] == list(range(len(recs))), f"partition {p} offsets"
        assert [int(r["index"]) for r in recs] == sorted(int(r["index"]) for r in recs), f"partition {p} order"

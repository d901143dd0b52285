"""Building agent reports for tests and the benchmark (docs/report-format.md)."""

from __future__ import annotations

import uuid
from typing import Any


def agent_id() -> str:
    return uuid.uuid4().hex


def report(
    aid: str, seq: int, ts: float, *, samples: int = 3, value: float = 1.0, **extra: Any
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "v": 1,
        "agent_id": aid,
        "seq": seq,
        "ts": ts,
        "interval": 15.0,
        "agent_version": "0.1.0",
        "samples": [
            {"name": "node_load1", "labels": {}, "value": value},
            *(
                {
                    "name": "node_filesystem_avail_bytes",
                    "labels": {"mountpoint": f"/m{i}"},
                    "value": value * i,
                }
                for i in range(1, samples)
            ),
        ],
        "checks": [
            {"name": "nginx", "kind": "process", "status": 0, "output": "PROCS OK: 3", "duration": 0.01}
        ],
    }
    doc.update(extra)
    return doc

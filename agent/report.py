"""The report: wire format version 1 of docs/report-format.md, built from samples and check results."""

from __future__ import annotations

import json
import math
import re
import zlib

from agent import __version__
from agent.probes import Sample

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from agent.checks import CheckResult

WIRE_VERSION = 1
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def check_samples(results: Iterable[CheckResult]) -> list[Sample]:
    """Each check as upkeep_check_status / _duration_seconds, and its perfdata as upkeep_check_perfdata."""
    out: list[Sample] = []
    for r in results:
        lb = {"check": r.name, "kind": r.kind}
        out.append(Sample("upkeep_check_status", lb, float(r.status)))
        out.append(Sample("upkeep_check_duration_seconds", lb, r.duration))
        for p in r.perfdata:
            out.append(Sample("upkeep_check_perfdata", {"check": r.name, "label": p.label, "unit": p.unit},
                              p.value))
    return out


# The same few dozen names and label-name sets come back every cycle: validate each once.
_checked: dict[tuple[str, ...], bool] = {}


def valid_sample(s: Sample) -> bool:
    """True when the sample can go on the wire: a valid name, valid label names, a finite value."""
    if not math.isfinite(s.value):
        return False
    key = (s.name, *s.labels)
    ok = _checked.get(key)
    if ok is None:
        ok = bool(_NAME.match(s.name)) and all(_LABEL.match(k) and not k.startswith("__") for k in s.labels)
        if len(_checked) < 10_000:
            _checked[key] = ok
    return ok


def build_report(*, agent_id: str, seq: int, ts: float, interval: float, facts: dict[str, Any],
                 samples: Iterable[Sample], checks: Iterable[CheckResult]) -> dict[str, Any]:
    """One report object; samples that would be refused on the wire are left out."""
    return {
        "v": WIRE_VERSION,
        "agent_id": agent_id,
        "seq": seq,
        "ts": round(ts, 3),
        "interval": interval,
        "agent_version": __version__,
        "facts": facts,
        "samples": [{"name": s.name, "labels": s.labels, "value": s.value}
                    for s in samples if valid_sample(s)],
        "checks": [c.to_wire() for c in checks],
    }


def encode_report(report: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON of one report (what the spool stores)."""
    return json.dumps(report, separators=(",", ":"), allow_nan=False).encode("utf-8")


def batch_body(encoded: list[bytes]) -> bytes:
    """The request body for already-encoded reports, gzip-compressed: one report, or a batch."""
    raw = encoded[0] if len(encoded) == 1 else b'{"reports":[' + b",".join(encoded) + b"]}"
    # wbits 31: zlib writes the gzip format itself (header and CRC), no gzip module needed.
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    return packer.compress(raw) + packer.flush()

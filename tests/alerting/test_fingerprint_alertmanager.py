"""An alert's fingerprint is the one the real Alertmanager computes for the same labels.

So an alert evaluated by upkeep and the same rule evaluated by Prometheus and fed in through
Alertmanager's webhook carry the same fingerprint, and the ticket side can match them.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from collector.core.alerting.model import fingerprint
from tests.support.prometheus import alertmanager, wait_until

pytestmark = pytest.mark.prometheus


def _label_sets(n: int) -> list[dict[str, str]]:
    rng = random.Random(11)
    alphabet = "abcxyz_/.:-= \"'\\é日本0123456789"
    out = [{"alertname": "Empty"}, {"alertname": "DiskFull", "host": "web1", "customer": "acme",
                                    "mountpoint": "/", "severity": "critical"}]
    for i in range(n):
        labels = {"alertname": f"Generated{i}"}
        for _ in range(rng.randint(0, 6)):
            name = rng.choice(["host", "customer", "device", "mountpoint", "a", "b_c", "z9"])
            labels[name] = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        out.append(labels)
    return out


def test_fingerprints_match_alertmanagers(tmp_path: Path) -> None:
    config = tmp_path / "am.yml"
    config.write_text(yaml.safe_dump({"route": {"receiver": "none"}, "receivers": [{"name": "none"}]}))
    sets = _label_sets(40)
    with alertmanager(config, tmp_path) as am:
        now = datetime.now(UTC)
        ends = (now + timedelta(hours=1)).isoformat()
        body = [{"labels": labels, "startsAt": now.isoformat(), "endsAt": ends} for labels in sets]
        r = httpx.post(f"{am.url}/api/v2/alerts", json=body, timeout=10)
        assert r.status_code == 200, r.text

        def listed() -> list[dict[str, object]] | None:
            got = httpx.get(f"{am.url}/api/v2/alerts", timeout=10).json()
            return got if len(got) == len(sets) else None

        theirs = {a["labels"]["alertname"]: a["fingerprint"] for a in wait_until("the alerts", listed)}
    for labels in sets:
        assert fingerprint(labels) == theirs[labels["alertname"]], labels

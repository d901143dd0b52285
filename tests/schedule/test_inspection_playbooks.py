"""Playbook results become evidence: hosts not inspected, steps, findings and observations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collector.services.inspection_playbooks import merge_host_run


@dataclass
class Step:
    step: str
    verdict: str
    reason: str = ""


@dataclass
class HostResult:
    host: str
    status: str
    reason: str = ""
    steps: list[Step] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)


def _empty(*hosts: str) -> dict[str, dict[str, Any]]:
    return {h: {"reason": "", "steps": [], "findings": [], "observations": []} for h in hosts}


def test_hosts_the_playbook_never_reached_say_why() -> None:
    out = _empty("a", "b", "c")
    merge_host_run(out, "monthly-inspection", HostResult("a", "unreachable", "connection refused"))
    merge_host_run(out, "monthly-inspection", HostResult("b", "host-key-changed"))
    merge_host_run(out, "monthly-inspection", HostResult("zzz", "passed"))  # not ours: ignored
    assert out["a"]["reason"] == "connection refused"
    assert out["b"]["reason"] == "its SSH host key changed"
    assert out["c"]["reason"] == ""


def test_findings_keep_their_object_and_info_results_describe_the_host() -> None:
    out = _empty("a")
    merge_host_run(out, "monthly-inspection", HostResult("a", "failed", steps=[
        Step("filesystems", "passed"), Step("time-sync", "timeout", "timed out after 10 s")], findings=[
        {"name": "filesystem-critical", "severity": "critical", "text": "/var is 97 % full",
         "values": {"mount": "/var", "use": 97}},
        {"name": "filesystem-usage", "severity": "info", "text": "/: 40 % used", "values": {"mount": "/"}},
    ]))
    assert out["a"]["reason"] == ""
    assert [(s["name"], s["status"], s["summary"]) for s in out["a"]["steps"]] == [
        ("monthly-inspection: filesystems", "passed", ""),
        ("monthly-inspection: time-sync", "timeout", "timed out after 10 s")]
    [finding] = out["a"]["findings"]
    assert finding.key == "monthly-inspection:filesystem-critical:/var"
    assert finding.severity == "critical"
    assert finding.title == "/var is 97 % full"
    assert out["a"]["observations"] == ["/: 40 % used"]

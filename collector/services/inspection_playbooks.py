"""Folding the playbook runner's per-host results into an inspection's evidence.

The diagnosis area reports each host's run as a record (dataclass or dict) with a status,
a reason, steps and findings. A host whose status says the playbook never ran on it is
"not inspected" with the reason; informational findings describe the host; the others
become playbook findings for collector.core.inspection to judge.
"""

from __future__ import annotations

from typing import Any

from collector.core.inspection import PlaybookFinding

# Host statuses of the playbook runner meaning the playbook never ran on the host.
_NOT_RUN = {
    "host-key-unknown": "its SSH host key is not known",
    "host-key-changed": "its SSH host key changed",
    "auth-failed": "it refused the service key",
    "unreachable": "it could not be reached",
    "timeout": "it timed out",
    "error": "the run failed",
    "not-allowed": "remote diagnosis is not allowed on it",
}


def merge_host_run(out: dict[str, dict[str, Any]], playbook: str, r: Any) -> None:
    """Fold one host's playbook result into ``out`` (steps, findings, or why it did not run)."""
    name = getattr(r, "host", None)
    if name not in out:
        return
    status = str(getattr(r, "status", "") or "")
    reason = str(getattr(r, "reason", "") or "")
    if status in _NOT_RUN:
        out[name]["reason"] = reason or _NOT_RUN[status]
        return
    outcome = getattr(r, "outcome", None) or r
    for s in getattr(outcome, "steps", ()) or ():
        out[name]["steps"].append({
            "name": f"{playbook}: {_field(s, 'step', 'name')}",
            "status": _field(s, "verdict", "status"),
            "summary": _field(s, "reason"),
        })
    for f in getattr(outcome, "findings", ()) or ():
        fname = _field(f, "name", "key") or "finding"
        values = (f.get("values") if isinstance(f, dict) else getattr(f, "values", None)) or {}
        # A finding repeated per object (a mount, a service) keeps the object in its key.
        suffix = ":".join(str(v) for k, v in sorted(values.items())
                          if k in _OBJECT_KEYS and not isinstance(v, list))
        severity = _field(f, "severity") or "warning"
        if severity in ("info", "ok"):
            # Informational results (a filesystem's use, the load) describe the host; they are
            # shown with it, not counted as findings.
            out[name]["observations"].append(_field(f, "text", "title") or fname)
            continue
        out[name]["findings"].append(PlaybookFinding(
            key=f"{playbook}:{fname}" + (f":{suffix}" if suffix else ""),
            severity=severity,
            title=_field(f, "text", "title") or fname,
            details=", ".join(f"{k}={v}" for k, v in sorted(values.items())),
        ))


_OBJECT_KEYS = ("mount", "mountpoint", "service", "unit", "device")


def _field(obj: Any, *names: str) -> str:
    """The first of ``names`` the record has (records arrive as dataclasses or dicts)."""
    for n in names:
        value = obj.get(n) if isinstance(obj, dict) else getattr(obj, n, None)
        if value not in (None, ""):
            return str(value)
    return ""

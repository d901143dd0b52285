"""HTTP routes: alerts and rules.

    GET  /api/v1/alerts          viewer+; a customer-scoped token sees only its customer's alerts
    GET  /api/v1/rules           viewer+; loaded groups and rules with their health
    POST /api/v1/rules/reload    admin; reload every rule file (a bad file changes nothing: 422)
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from collector.api.auth import Principal, require
from collector.core.alerting.durations import format_duration
from collector.core.alerting.rulefile import AlertingRule
from collector.errors import InvalidInput, RuleError
from collector.services.alerts import alert_json

router = APIRouter()


def _service(request: Request) -> Any:
    return request.app.state.ctx.area("alerts")


@router.get("/api/v1/alerts")
def list_alerts(
    request: Request,
    state: Literal["pending", "firing"] | None = Query(default=None),
    host: str | None = Query(default=None),
    alertname: str | None = Query(default=None),
    who: Principal = Depends(require("viewer")),
) -> list[dict[str, Any]]:
    alerts = _service(request).active(customers=who.scope(), state=state)
    return [
        alert_json(a) for a in alerts
        if (host is None or a.labels.get("host") == host) and (alertname is None or a.alertname == alertname)
    ]


@router.get("/api/v1/rules")
def list_rules(request: Request, who: Principal = Depends(require("viewer"))) -> dict[str, Any]:
    svc = _service(request)
    groups = []
    for g in svc.evaluator.rules.groups:
        rules = []
        for r in g.rules:
            health = svc.evaluator.health.get(r.key)
            entry: dict[str, Any] = {
                "name": r.name,
                "type": "alerting" if isinstance(r, AlertingRule) else "recording",
                "expr": r.expr_text,
                "health": "unknown" if health is None or health.last_evaluation is None
                else ("err" if health.last_error else "ok"),
                "last_error": health.last_error if health else None,
            }
            if isinstance(r, AlertingRule):
                entry.update({
                    "for": format_duration(r.hold),
                    "keep_firing_for": format_duration(r.keep_firing_for),
                    "labels": r.static_labels,
                    "annotations": {k: t.source for k, t in r.annotations.items()},
                })
            rules.append(entry)
        groups.append({"name": g.name, "file": g.file,
                       "interval": format_duration(g.interval or svc.config.interval), "rules": rules})
    return {"groups": groups, "last_reload_error": svc.last_reload_error}


@router.post("/api/v1/rules/reload")
async def reload_rules(request: Request, who: Principal = Depends(require("admin"))) -> dict[str, Any]:
    svc = _service(request)
    try:
        result = await asyncio.to_thread(svc.reload)
    except RuleError as exc:
        raise InvalidInput(str(exc), field=exc.file) from None
    # The server loop evaluates with the new rules at once instead of at its next tick.
    svc.wake()
    return {"files": result.files, "groups": result.groups, "rules": result.rules}

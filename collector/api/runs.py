"""``/api/v1/runs`` and ``/api/v1/playbooks``: remote-diagnosis runs and the playbooks they run.

Roles: a viewer reads runs and playbooks; an engineer starts runs. A customer-scoped token
sees only runs that touched its customer's hosts, and only those hosts' results; a run
that touched none of them answers the same 404 as a missing one. Starting a run answers
when every host has finished (the CLI shows live progress; the API returns the result).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from collector.api.auth import Principal, require
from collector.errors import InvalidInput, NotFound

router = APIRouter(tags=["runs"])


def _svc(request: Request) -> Any:
    return request.app.state.ctx.areas["diagnosis"]


def _playbook_json(playbook: Any, *, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": playbook.name,
        "description": playbook.description,
        "parameters": [
            {"name": p.name, "type": p.type, "default": p.default, "required": p.required,
             "description": p.description, "choices": list(p.choices)}
            for p in playbook.parameters
        ],
    }
    if full:
        data["steps"] = [
            {"name": s.name, "run": s.run, "fetch": s.fetch.path if s.fetch else None, "timeout": s.timeout,
             "sudo": s.sudo, "when": s.when.source if s.when else None,
             "captures": [c.name for c in s.captures]}
            for s in playbook.steps
        ]
        data["findings"] = [
            {"name": f.name, "severity": f.severity, "text": f.text} for f in playbook.findings
        ]
    return data


@router.get("/api/v1/playbooks")
def list_playbooks(request: Request, _who: Principal = Depends(require("viewer"))) -> list[dict[str, Any]]:
    return [_playbook_json(p) for _, p in sorted(_svc(request).playbooks().items())]


@router.get("/api/v1/playbooks/{name}")
def show_playbook(
    name: str, request: Request, _who: Principal = Depends(require("viewer"))
) -> dict[str, Any]:
    return _playbook_json(_svc(request).playbook(name), full=True)


@router.get("/api/v1/runs")
def list_runs(
    request: Request,
    host: str | None = None,
    playbook: str | None = None,
    ticket_id: str | None = None,
    limit: int = 100,
    who: Principal = Depends(require("viewer")),
) -> list[dict[str, Any]]:
    if not 1 <= limit <= 1000:
        raise InvalidInput("must be between 1 and 1000", field="limit")
    runs = _svc(request).list_runs(customers=who.scope(), host=host, playbook=playbook, ticket_id=ticket_id,
                                   limit=limit)
    return [r.to_json(steps=False) for r in runs]


@router.get("/api/v1/runs/{run_id}")
def show_run(run_id: str, request: Request, who: Principal = Depends(require("viewer"))) -> dict[str, Any]:
    run = _svc(request).get_run(run_id, customers=who.scope())
    if run is None:
        raise NotFound("run", run_id)
    return run.to_json()


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise InvalidInput("the body is not valid JSON", field="body") from None
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object", field="body")
    return data


def _strings(data: dict[str, Any], key: str) -> dict[str, str]:
    value = data.get(key) or {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise InvalidInput("must be an object", field=key)
    if not all(isinstance(v, str | int | float | bool) for v in value.values()):
        raise InvalidInput("values must be strings, numbers or booleans", field=key)
    return value


@router.post("/api/v1/runs", status_code=201)
async def start_run(request: Request, who: Principal = Depends(require("engineer"))) -> dict[str, Any]:
    """Run a playbook: ``{"playbook", "hosts": [...] | "customer" | "labels": {...}, "params": {...}}``."""
    data = await _body(request)
    name = data.get("playbook")
    if not isinstance(name, str) or not name:
        raise InvalidInput("required: the playbook's name", field="playbook")
    hosts = data.get("hosts") or []
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise InvalidInput("must be a list of host names", field="hosts")
    customer = data.get("customer")
    if customer is not None and not isinstance(customer, str):
        raise InvalidInput("must be a string", field="customer")
    labels = _strings(data, "labels")
    params = _strings(data, "params")
    if not (hosts or customer or labels):
        raise InvalidInput("name hosts, a customer or labels", field="hosts")
    svc = _svc(request)

    def run() -> dict[str, Any]:
        refs = svc.select_hosts(hosts=hosts, customer=customer, labels=labels or None)
        for ref in refs:
            if not who.can_see(ref.customer):
                raise NotFound("host", ref.name)
        if not refs:
            raise InvalidInput("no host matches", field="hosts")
        result = svc.run_playbook(name, [r.name for r in refs], params, trigger="api", requested_by=who.name)
        return result.to_json()

    return await run_in_threadpool(run)

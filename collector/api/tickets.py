"""``/api/v1/tickets`` and what belongs to them: engineers, maintenance windows, the knowledge
base and the customer's survey page.

Roles: a viewer reads; an engineer works tickets, records requests and maintenance; an admin
also manages engineers. A customer-scoped token sees and changes only its customer's tickets,
and another customer's ticket answers the same 404 as a missing one. The survey page needs no
login: its signed link is the credential.
"""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from collector.api.auth import Principal, principal, require
from collector.core.tickets import HUMAN_COMMANDS
from collector.errors import InvalidInput, NotFound

router = APIRouter(tags=["tickets"])


def _svc(request: Request) -> Any:
    return request.app.state.ctx.areas["tickets"]


def _now(request: Request) -> Any:
    return request.app.state.ctx.clock.now()


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise InvalidInput("the body is not valid JSON", field="body") from None
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object", field="body")
    return data


def _text(data: dict[str, Any], key: str, default: str = "") -> str:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidInput("expected a string", field=key)
    return value


@router.get("/api/v1/tickets")
def list_tickets(
    request: Request,
    customer: str | None = None,
    state: str | None = None,
    open: bool = False,
    assignee: str | None = None,
    host: str | None = None,
    limit: int = 100,
    offset: int = 0,
    who: Principal = Depends(principal),
) -> list[dict[str, Any]]:
    """Tickets, newest first; ``state`` may be a comma-separated list."""
    states = [s for s in (state or "").split(",") if s] or None
    return _svc(request).list(
        scope=who.scope(),
        customer=customer,
        states=states,
        open_only=open,
        assignee=assignee,
        host=host,
        limit=limit,
        offset=offset,
    )


@router.post("/api/v1/tickets", status_code=201)
async def open_ticket(request: Request, who: Principal = Depends(require("engineer"))) -> dict[str, Any]:
    """Record a customer's request: customer, title, description, category, urgency, contact, host."""
    data = await _body(request)
    customer = _text(data, "customer") or (who.customer or "")
    if not customer:
        raise InvalidInput("name the customer", field="customer")
    if not who.can_see(customer):
        raise NotFound("customer", customer)
    contact = data.get("contact") or {}
    if not isinstance(contact, dict):
        raise InvalidInput("contact is an object (name, phone, email)", field="contact")
    skills = data.get("skills") or []
    if not isinstance(skills, list) or not all(isinstance(s, str) for s in skills):
        raise InvalidInput("skills is a list of strings", field="skills")
    svc = _svc(request)
    row = svc.open_request(
        customer=customer,
        title=_text(data, "title"),
        description=_text(data, "description"),
        category=_text(data, "category"),
        urgency=_text(data, "urgency", "normal") or "normal",
        contact=contact,
        host=_text(data, "host") or None,
        skills=skills,
        actor=who.name,
        now=_now(request),
    )
    return svc.show(row.id, now=_now(request), scope=who.scope())


@router.get("/api/v1/tickets/{ref}")
def show_ticket(ref: str, request: Request, who: Principal = Depends(principal)) -> dict[str, Any]:
    """The ticket with its events, SLA deadlines and marks, and the knowledge that applies."""
    return _svc(request).show(ref, now=_now(request), scope=who.scope())


@router.post("/api/v1/tickets/{ref}/diagnose")
async def diagnose(
    ref: str, request: Request, who: Principal = Depends(require("engineer"))
) -> dict[str, Any]:
    data = await _body(request)
    playbook = _text(data, "playbook")
    if not playbook:
        raise InvalidInput("name the playbook", field="playbook")
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise InvalidInput("params is an object", field="params")
    return _svc(request).diagnose(
        ref, playbook, actor=who.name, params=params, now=_now(request), scope=who.scope()
    )


@router.post("/api/v1/tickets/{ref}/{action}")
async def act(
    ref: str, action: str, request: Request, who: Principal = Depends(require("engineer"))
) -> dict[str, Any]:
    """One command: assign, take, ack, comment, wait, resume, resolve, survey, close, reopen, cancel,
    dispatch, arrive. A command the ticket's state does not allow answers 409 with the allowed ones."""
    if action not in HUMAN_COMMANDS:
        raise NotFound("command", action)
    data = await _body(request)
    actor = who.name
    if action == "take":
        actor = _text(data, "engineer") or who.name
        svc = _svc(request)
        with request.app.state.ctx.engine.connect() as conn:
            if not svc.directory.exists(conn, actor):
                raise InvalidInput(f"unknown engineer {actor!r}", field="engineer")
    return _svc(request).act(ref, action, actor=actor, data=data, now=_now(request), scope=who.scope())


# --- engineers ------------------------------------------------------------------------------------


@router.get("/api/v1/engineers")
def list_engineers(request: Request, who: Principal = Depends(require("engineer"))) -> list[dict[str, Any]]:
    return _svc(request).engineers()


@router.post("/api/v1/engineers", status_code=201)
async def add_engineer(request: Request, who: Principal = Depends(require("admin"))) -> dict[str, Any]:
    return _svc(request).add_engineer(await _body(request))


@router.delete("/api/v1/engineers/{name}", status_code=204)
def remove_engineer(name: str, request: Request, who: Principal = Depends(require("admin"))) -> None:
    _svc(request).remove_engineer(name)


# --- maintenance ----------------------------------------------------------------------------------


@router.get("/api/v1/maintenance")
def list_maintenance(
    request: Request, all: bool = False, who: Principal = Depends(principal)
) -> list[dict[str, Any]]:
    return _svc(request).list_maintenance(now=_now(request), scope=who.scope(), include_finished=all)


@router.post("/api/v1/maintenance", status_code=201)
async def add_maintenance(request: Request, who: Principal = Depends(require("engineer"))) -> dict[str, Any]:
    """customer, hosts, labels; starts and ends (or duration), or recurrence {days, at, duration}."""
    data = await _body(request)
    allowed = {"customer", "hosts", "labels", "starts", "ends", "duration", "recurrence", "reason"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidInput("unknown field", field=unknown[0])
    if who.customer is not None:
        if data.get("customer") not in (None, who.customer):
            raise NotFound("customer", data.get("customer"))
        data["customer"] = who.customer
    for key, kind in (("hosts", list), ("labels", dict), ("recurrence", dict)):
        if data.get(key) is not None and not isinstance(data[key], kind):
            raise InvalidInput(f"expected a {kind.__name__}", field=key)
    if not all(isinstance(h, str) for h in data.get("hosts") or []):
        raise InvalidInput("hosts is a list of host names", field="hosts")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in (data.get("labels") or {}).items()):
        raise InvalidInput("labels map names to strings", field="labels")
    for key in ("customer", "reason"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise InvalidInput("expected a string", field=key)
    return _svc(request).add_maintenance(actor=who.name, now=_now(request), **data)


@router.post("/api/v1/maintenance/{window_id}/end", status_code=204)
def end_maintenance(window_id: int, request: Request, who: Principal = Depends(require("engineer"))) -> None:
    _svc(request).end_maintenance(window_id, now=_now(request), scope=who.scope())


# --- knowledge ------------------------------------------------------------------------------------


@router.get("/api/v1/kb")
def kb_search(request: Request, q: str = "", who: Principal = Depends(principal)) -> dict[str, Any]:
    return _svc(request).kb_search(q, scope=who.scope())


# --- the customer's survey page (no login: the signed link is the credential) ---------------------

_FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{number}: how did we do?</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 2em auto">
<h1>{number}</h1><p>{title}</p>
<p><b>Cause:</b> {cause}<br><b>What we did:</b> {actions}<br><b>Result:</b> {result}</p>
<form method="post">
<p>How satisfied are you with how this was handled?</p>
<p>{choices}</p>
<p><label>Comment<br><textarea name="comment" rows="4" cols="50"></textarea></label></p>
<p><button type="submit">Send</button></p>
</form></body></html>
"""


@router.get("/api/v1/survey/{token}", response_class=HTMLResponse, include_in_schema=False)
def survey_page(token: str, request: Request) -> HTMLResponse:
    info = _svc(request).survey_form(token, _now(request))
    report = info["report"]
    choices = " ".join(
        f'<label><input type="radio" name="rating" value="{i}" required> {i}</label>' for i in range(1, 6)
    )
    page = _FORM.format(
        number=html.escape(info["number"]),
        title=html.escape(info["title"]),
        cause=html.escape(str(report.get("cause", ""))),
        actions=html.escape(str(report.get("actions", ""))),
        result=html.escape(str(report.get("result", ""))),
        choices=choices,
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


@router.post("/api/v1/survey/{token}", include_in_schema=False)
async def survey_answer(token: str, request: Request) -> Any:
    """Record the answer (form-encoded from the page, or JSON); 1-2 reopens the ticket, 3-5 closes it."""
    raw = (await request.body()).decode("utf-8", "replace")
    if request.headers.get("content-type", "").startswith("application/json"):
        data = await _body(request)
    else:
        data = {k: v[0] for k, v in parse_qs(raw).items()}
    rating: Any = data.get("rating")
    if isinstance(rating, str):
        rating = int(rating) if rating.strip().isdigit() else rating
    comment = data.get("comment") or ""
    if not isinstance(comment, str):
        raise InvalidInput("expected a string", field="comment")
    result = _svc(request).survey_by_link(token, rating, comment[:4000], _now(request))
    if "text/html" in request.headers.get("accept", ""):
        return HTMLResponse("<!doctype html><p>Thank you for your answer.</p>")
    return result

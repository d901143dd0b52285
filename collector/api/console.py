"""The web console for engineers: tickets, alerts and hosts in a browser, no JavaScript.

Signing in takes an API token (the same tokens as the REST API, with the same roles and
customer scope) and keeps it in an HttpOnly, SameSite=Strict cookie limited to
``/console``. Every form that changes something carries a token derived from the
session's (HMAC), so a page on another site cannot post on an engineer's behalf even
where a browser ignores SameSite. Reads and changes go through the same services as
the API, so a scoped token sees exactly what it sees there.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from collector.api.auth import Principal, principal_for_token
from collector.api.errors import Unauthorized
from collector.config.contracts import PRIORITIES
from collector.errors import Conflict, Forbidden, InvalidInput, NotFound, UpkeepError
from collector.store import inventory

router = APIRouter(include_in_schema=False)

COOKIE = "upkeep_console"
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent.parent / "web" / "templates"),
    autoescape=select_autoescape(["html"]),
)
# Commands that need no form fields, offered as buttons when the ticket's state allows them.
QUICK_ACTIONS = ("take", "ack", "wait", "resume", "close", "reopen", "cancel")


def _csrf(token: str) -> str:
    return hmac.new(token.encode(), b"upkeep-console-form", hashlib.sha256).hexdigest()[:32]


def _session(request: Request) -> tuple[Principal, str] | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        return principal_for_token(request, token), token
    except Unauthorized:
        return None


def _page(name: str, status: int = 200, **values: Any) -> HTMLResponse:
    values.setdefault("error", None)
    return HTMLResponse(TEMPLATES.get_template(name).render(**values), status_code=status)


def _to_login() -> RedirectResponse:
    return RedirectResponse("/console/login", status_code=303)


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _now(request: Request) -> datetime:
    return request.app.state.ctx.clock.now()


def _tickets(request: Request) -> Any:
    return request.app.state.ctx.areas.get("tickets")


def _alerts(request: Request, who: Principal, host: str | None = None) -> list[dict[str, Any]]:
    from collector.services.alerts import alert_json

    svc = request.app.state.ctx.areas.get("alerts")
    if svc is None:
        return []
    found = [alert_json(a) for a in svc.active(customers=who.scope())]
    return [a for a in found if host is None or a["host"] == host]


def _hosts(request: Request, who: Principal) -> list[dict[str, Any]]:
    with request.app.state.ctx.engine.connect() as conn:
        rows = inventory.list_hosts(conn, who.customer)
    out = []
    for h in rows:
        j = h.to_json()
        j["last_seen"] = _iso(h.last_seen)
        j["first_seen"] = _iso(h.first_seen)
        out.append(j)
    return out


@router.get("/console/login")
def login_form() -> HTMLResponse:
    return _page("login.html", who=None)


@router.post("/console/login")
async def login(request: Request) -> Response:
    token = (await _form(request)).get("token", "").strip()
    try:
        principal_for_token(request, token)
    except Unauthorized:
        return _page("login.html", status=401, who=None, error="That token is unknown or revoked.")
    response = RedirectResponse("/console", status_code=303)
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="strict", path="/console",
        secure=request.url.scheme == "https", max_age=12 * 3600,
    )
    return response


@router.post("/console/logout")
async def logout(request: Request) -> Response:
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


@router.get("/console")
def overview(request: Request) -> Response:
    session = _session(request)
    if session is None:
        return _to_login()
    who, token = session
    svc = _tickets(request)
    open_tickets = svc.list(scope=who.scope(), open_only=True, limit=200) if svc else []
    counts = dict.fromkeys(PRIORITIES, 0)
    for t in open_tickets:
        counts[t["priority"]] = counts.get(t["priority"], 0) + 1
    hosts = _hosts(request, who)
    return _page(
        "overview.html", who=who, csrf=_csrf(token), open_tickets=open_tickets,
        by_priority=[(p, n) for p, n in counts.items() if n],
        firing=sum(1 for a in _alerts(request, who) if a["state"] == "firing"),
        hosts_up=sum(1 for h in hosts if h["status"] == "up"), hosts_total=len(hosts),
    )


@router.get("/console/tickets")
def tickets(request: Request, all: str | None = None) -> Response:
    session = _session(request)
    if session is None:
        return _to_login()
    who, token = session
    svc = _tickets(request)
    rows = svc.list(scope=who.scope(), open_only=not all, limit=500) if svc else []
    return _page("tickets.html", who=who, csrf=_csrf(token), tickets=rows)


def _ticket_page(request: Request, who: Principal, token: str, ref: str, *, error: str | None = None,
                 status: int = 200) -> HTMLResponse:
    from collector.core.tickets import allowed_commands

    t = _tickets(request).show(ref, now=_now(request), scope=who.scope())
    allowed = allowed_commands(t["state"])
    return _page(
        "ticket.html", status=status, who=who, csrf=_csrf(token), t=t, allowed=allowed,
        quick_actions=[a for a in QUICK_ACTIONS if a in allowed], can_act=who.at_least("engineer"),
        error=error,
    )


@router.get("/console/tickets/{ref}")
def ticket(ref: str, request: Request) -> Response:
    session = _session(request)
    if session is None:
        return _to_login()
    who, token = session
    try:
        return _ticket_page(request, who, token, ref)
    except NotFound as exc:
        return _page("tickets.html", status=404, who=who, csrf=_csrf(token), tickets=[], error=str(exc))


@router.post("/console/tickets/{ref}/{action}")
async def act(ref: str, action: str, request: Request) -> Response:
    session = _session(request)
    if session is None:
        return _to_login()
    who, token = session
    form = await _form(request)
    if not hmac.compare_digest(form.get("csrf", ""), _csrf(token)):
        return _page("tickets.html", status=403, who=who, csrf=_csrf(token), tickets=[],
                     error="This form is stale or came from another site; reload the page and try again.")
    data: dict[str, Any] = {}
    if action == "comment":
        data["text"] = form.get("text", "")
    elif action == "resolve":
        parts = [p.strip() for p in form.get("parts", "").split(",") if p.strip()]
        data["report"] = {k: form.get(k, "") for k in ("cause", "actions", "result")} | {"parts": parts}
    try:
        if not who.at_least("engineer"):
            raise Forbidden(f"this needs the engineer role; the token has {who.role}")
        actor = who.name
        _tickets(request).act(ref, action, actor=actor, data=data, now=_now(request), scope=who.scope())
    except NotFound as exc:
        return _page("tickets.html", status=404, who=who, csrf=_csrf(token), tickets=[], error=str(exc))
    except (InvalidInput, Conflict, Forbidden) as exc:
        code = 403 if isinstance(exc, Forbidden) else 409 if isinstance(exc, Conflict) else 422
        return _ticket_page(request, who, token, ref, error=str(exc), status=code)
    except UpkeepError as exc:
        return _ticket_page(request, who, token, ref, error=str(exc), status=400)
    return RedirectResponse(f"/console/tickets/{quote(ref)}", status_code=303)


@router.get("/console/alerts")
def alerts(request: Request) -> Response:
    session = _session(request)
    if session is None:
        return _to_login()
    who, token = session
    return _page("alerts.html", who=who, csrf=_csrf(token), alerts=_alerts(request, who))


@router.get("/console/hosts")
def hosts(request: Request) -> Response:
    session = _session(request)
    if session is None:
        return _to_login()
    who, token = session
    return _page("hosts.html", who=who, csrf=_csrf(token), hosts=_hosts(request, who))


@router.get("/console/hosts/{name}")
def host(name: str, request: Request) -> Response:
    session = _session(request)
    if session is None:
        return _to_login()
    who, token = session
    found = next((h for h in _hosts(request, who) if h["name"] == name or h["id"] == name), None)
    if found is None:
        return _page(
            "hosts.html", status=404, who=who, csrf=_csrf(token), hosts=[], error=f"host {name} not found"
        )
    svc = _tickets(request)
    rows = svc.list(scope=who.scope(), host=found["name"], limit=200) if svc else []
    return _page("host.html", who=who, csrf=_csrf(token), host=found, tickets=rows,
                 alerts=_alerts(request, who, found["name"]))

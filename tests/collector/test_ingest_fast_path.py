"""The server answers agents' reports before FastAPI's routing (collector.api.ingest.serve_reports).

Every answer of that path must be the answer the routed endpoint gives: the same status, JSON
body and headers, refusals included. Each request here goes once through the application as the
server runs it and once through FastAPI's own routing, on one real store.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi import FastAPI

from collector.app import CollectorApp, create_app
from collector.config import CollectorConfig
from collector.ports import FixedClock
from collector.services import AppContext
from tests.collector.conftest import make_ingest_context
from tests.collector.reports import report
from tests.collector.test_store import _enroll

Answer = tuple[int, dict[str, str], Any]


def call(app: Any, method: str, headers: list[tuple[str, str]], chunks: list[bytes], *,
         disconnect: bool = False) -> Answer | None:
    """One request through an ASGI callable: (status, headers, JSON body), or None if nothing was sent."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": "/api/v1/reports", "raw_path": b"/api/v1/reports", "root_path": "",
        "query_string": b"", "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080), "state": {},
    }
    incoming = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
                for i, c in enumerate(chunks)]
    if disconnect:
        incoming[-1]["more_body"] = True
        incoming.append({"type": "http.disconnect"})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    if not sent:
        return None
    head = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return sent[0]["status"], head, orjson.loads(body)


def routed(app: FastAPI) -> Any:
    """The same application entered through FastAPI's own routing and middleware."""

    async def enter(scope: Any, receive: Any, send: Any) -> None:
        await FastAPI.__call__(app, scope, receive, send)

    return enter


@pytest.fixture
def served(store_config: CollectorConfig, clock: FixedClock) -> Iterator[tuple[AppContext, FastAPI]]:
    ctx = make_ingest_context(store_config, clock)
    app = create_app(ctx)
    assert isinstance(app, CollectorApp)
    yield ctx, app
    ctx.close()


def _comparable(answer: Answer | None) -> tuple[int, dict[str, str], Any]:
    assert answer is not None
    status, head, body = answer
    kept = {k: v for k, v in head.items() if k in ("content-type", "retry-after", "www-authenticate")}
    kept["content-type"] = kept["content-type"].split(";")[0]
    return status, kept, body


def test_every_refusal_is_the_routed_endpoints_answer(served: tuple[AppContext, FastAPI]) -> None:
    ctx, app = served
    aid, token = _enroll(ctx)
    now = ctx.clock.now().timestamp()
    auth = ("Authorization", f"Bearer {token}")
    good = orjson.dumps(report(aid, 1, now))
    limit = ctx.config.ingest.max_body_bytes
    cases: list[tuple[str, list[tuple[str, str]], list[bytes], int]] = [
        ("no token", [], [good], 401),
        ("not bearer", [("Authorization", f"Basic {token}")], [good], 401),
        ("unknown token", [("Authorization", "Bearer uph_nothing")], [good], 401),
        ("bad length", [auth, ("Content-Length", "many")], [good], 422),
        ("declared too big", [auth, ("Content-Length", str(limit + 1))], [good], 413),
        ("streamed too big", [auth], [b"x" * (limit // 2 + 1)] * 2, 413),
        ("not json", [auth], [b"{not json"], 422),
        ("wrong type", [auth], [orjson.dumps(report(aid, "one", now))], 422),
        ("bad gzip", [auth, ("Content-Encoding", "gzip")], [b"not gzip at all"], 422),
        ("another agent", [auth], [orjson.dumps(report("f" * 32, 1, now))], 403),
    ]
    for name, headers, chunks, status in cases:
        fast = _comparable(call(app, "POST", headers, chunks))
        slow = _comparable(call(routed(app), "POST", headers, chunks))
        assert fast == slow, name
        assert fast[0] == status, (name, fast)
        assert fast[2]["error"], name
    assert _comparable(call(app, "POST", [], [good]))[1]["www-authenticate"] == "Bearer"


def test_stored_reports_answer_alike_and_a_repeat_is_a_duplicate(served: tuple[AppContext, FastAPI]) -> None:
    ctx, app = served
    aid, token = _enroll(ctx)
    now = ctx.clock.now().timestamp()
    auth = [("Authorization", f"Bearer {token}"), ("Content-Encoding", "gzip")]
    first = gzip.compress(orjson.dumps({"reports": [report(aid, 1, now - 2), report(aid, 2, now - 1)]}))
    assert _comparable(call(app, "POST", auth, [first]))[::2] == (200, {"accepted": 2, "duplicates": 0})
    again = _comparable(call(routed(app), "POST", auth, [first]))
    assert again[::2] == (200, {"accepted": 0, "duplicates": 2})
    third = gzip.compress(orjson.dumps(report(aid, 3, now)))
    assert _comparable(call(app, "POST", auth, [third]))[::2] == (200, {"accepted": 1, "duplicates": 0})
    assert ctx.window.series_count() > 0


def test_a_bug_is_a_json_500_and_a_hang_up_gets_no_answer(
    served: tuple[AppContext, FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, app = served
    aid, token = _enroll(ctx)
    now = ctx.clock.now().timestamp()
    auth = [("Authorization", f"Bearer {token}")]
    body = orjson.dumps(report(aid, 1, now))
    assert call(app, "POST", auth, [body[:10], body[10:]], disconnect=True) is None

    def broken(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(ctx.area("ingest"), "check_agent", broken)
    status, head, answer = _comparable(call(app, "POST", auth, [body]))
    assert (status, head["content-type"]) == (500, "application/json")
    assert "send the report again" in answer["error"]
    monkeypatch.undo()
    assert _comparable(call(app, "POST", auth, [body]))[::2] == (200, {"accepted": 1, "duplicates": 0})


def test_other_methods_still_go_through_routing(served: tuple[AppContext, FastAPI]) -> None:
    _ctx, app = served
    listing = _comparable(call(app, "GET", [], [b""]))  # the service reports' listing wants an API token
    assert listing == _comparable(call(routed(app), "GET", [], [b""]))
    assert listing[0] == 401
    status, _head, body = _comparable(call(app, "PUT", [], [b""]))
    assert status == 405
    assert body["error"]

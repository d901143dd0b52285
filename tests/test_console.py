"""The web console through a real `upkeep serve`: sign in, read, work a ticket, stay in scope."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.collector import Collector, running_collector

CONFIG = {
    "customers": [{"name": "acme"}, {"name": "globex"}],
    "engineers": [{"name": "alice", "skills": ["linux"], "customers": ["acme", "globex"]}],
}


_clients: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().close()


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    root: Path = tmp_path_factory.mktemp("console")
    with running_collector(root, CONFIG) as c:
        yield c


def _open_ticket(c: Collector, admin: str, customer: str, title: str) -> str:
    r = httpx.post(
        f"{c.base_url}/api/v1/tickets",
        json={"customer": customer, "title": title, "urgency": "normal"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["number"])


def _signed_in(c: Collector, token: str) -> httpx.Client:
    client = httpx.Client(base_url=c.base_url, follow_redirects=False)
    _clients.append(client)
    r = client.post("/console/login", content=f"token={token}",
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 303
    assert r.headers["location"] == "/console"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    return client


def _csrf(page: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert m, "every page with a form carries the form token"
    return m.group(1)


def test_pages_need_a_session(collector: Collector) -> None:
    for path in ("/console", "/console/tickets", "/console/hosts", "/console/alerts"):
        r = httpx.get(collector.base_url + path, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == "/console/login"
    bad = httpx.post(collector.base_url + "/console/login", content="token=nope",
                     headers={"content-type": "application/x-www-form-urlencoded"})
    assert bad.status_code == 401
    assert "unknown or revoked" in bad.text


def test_an_engineer_works_a_ticket_in_the_browser(collector: Collector) -> None:
    admin = collector.token("admin")
    number = _open_ticket(collector, admin, "acme", "Printer <script>alert(1)</script> jammed")
    client = _signed_in(collector, collector.token("engineer", name="alice"))

    overview = client.get("/console")
    assert overview.status_code == 200
    assert number in overview.text
    assert "<script>alert(1)</script>" not in overview.text  # escaped, not executed

    page = client.get(f"/console/tickets/{number}")
    assert page.status_code == 200
    token = _csrf(page.text)

    forged = client.post(f"/console/tickets/{number}/ack", content="csrf=0000",
                         headers={"content-type": "application/x-www-form-urlencoded"})
    assert forged.status_code == 403

    for action, body in (("take", ""), ("comment", "text=Called+the+customer")):
        r = client.post(f"/console/tickets/{number}/{action}", content=f"csrf={token}&{body}",
                        headers={"content-type": "application/x-www-form-urlencoded"})
        assert r.status_code == 303, (action, r.text[:500])

    missing_report = client.post(f"/console/tickets/{number}/resolve", content=f"csrf={token}&cause=",
                                 headers={"content-type": "application/x-www-form-urlencoded"})
    assert missing_report.status_code == 422
    assert "service report" in missing_report.text

    resolved = client.post(
        f"/console/tickets/{number}/resolve",
        content=f"csrf={token}&cause=Worn+roller&actions=Replaced+roller&result=Prints+again&parts=roller",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert resolved.status_code == 303
    detail = httpx.get(f"{collector.base_url}/api/v1/tickets/{number}",
                       headers={"Authorization": f"Bearer {admin}"}).json()
    assert detail["state"] == "resolved"
    assert detail["report"]["parts"] == ["roller"]
    kinds = [e["kind"] for e in detail["events"]]
    assert "comment" in " ".join(kinds)
    assert any(e["actor"] == "alice" for e in detail["events"])


def test_a_viewer_reads_but_cannot_change(collector: Collector) -> None:
    number = _open_ticket(collector, collector.token("admin"), "acme", "Disk noise")
    client = _signed_in(collector, collector.token("viewer", name="val"))
    page = client.get(f"/console/tickets/{number}")
    assert page.status_code == 200
    assert "Resolve with a service report" not in page.text
    r = client.post(f"/console/tickets/{number}/ack", content=f"csrf={_csrf(page.text)}",
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 403


def test_a_scoped_session_never_sees_another_customer(collector: Collector) -> None:
    admin = collector.token("admin")
    theirs = _open_ticket(collector, admin, "globex", "Globex switch down")
    client = _signed_in(collector, collector.token("engineer", customer="acme", name="acme-eng"))
    assert client.get(f"/console/tickets/{theirs}").status_code == 404
    assert theirs not in client.get("/console/tickets?all=1").text

"""The scheduled-work store behaves the same on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from collector.store import schedule as store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue("sqlite_engine" if request.param == "sqlite" else "pg_engine")


FINDING = {"host": "web-01", "key": "web-01:disk-fill:/data", "severity": "major", "category": "capacity",
           "title": "/data fills in 9 days", "details": "d", "recommendation": "r", "evidence": {"days": 9.1}}


def test_inspections_findings_and_reports_round_trip(engine: Engine) -> None:
    with engine.begin() as conn:
        first = store.insert_inspection(conn, customer="acme", host=None, trigger="schedule", now=100.0,
                                        period_start=0.0, period_end=100.0)
        store.insert_findings(conn, first, [FINDING, {**FINDING, "host": "web-02", "key": "web-02:x",
                                                      "severity": "warning"}])
        store.complete_inspection(conn, first, status="completed", now=110.0,
                                  summary={"findings": 2}, hosts=[{"host": "web-01"}], run_ids=["r1"])
        store.update_finding_ticket(conn, first, "web-01:disk-fill:/data", "T-2026-000001")
        other = store.insert_inspection(conn, customer="globex", host="gx", trigger="manual", now=120.0,
                                        period_start=0.0, period_end=120.0)
        docs = {"json": "{}", "html": "<p></p>", "md": "#"}
        store.save_report(conn, kind="inspection", customer="acme", period="2026-03", now=111.0,
                          documents=docs, inspection_id=first)
        store.save_report(conn, kind="monthly", customer="acme", period="2026-03", now=112.0, documents=docs)
        store.save_report(conn, kind="monthly", customer="acme", period="2026-03", now=113.0,
                          documents={**docs, "md": "# again"})
    with engine.connect() as conn:
        got = store.get_inspection(conn, first)
        assert got is not None
        assert got["run_ids"] == ["r1"]
        assert [f["ticket"] for f in got["findings"]] == ["T-2026-000001", None]
        assert got["findings"][0]["evidence"] == {"days": 9.1}
        assert [i["id"] for i in store.list_inspections(conn)] == [other, first]
        assert [i["id"] for i in store.list_inspections(conn, customers=("acme",))] == [first]
        assert [i["id"] for i in store.list_inspections(conn, host="web-01")] == [first]
        assert store.latest_completed(conn) == [{"customer": "acme", "finished_at": 110.0,
                                                 "severities": {"major": 1, "warning": 1}}]
        assert sorted(store.inspection_counts(conn)) == [("acme", "completed", 1), ("globex", "running", 1)]
        monthly = store.get_report(conn, kind="monthly", customer="acme", period="2026-03")
        assert monthly is not None
        assert monthly["markdown"] == "# again", "a month's report is replaced, not repeated"
        assert len(store.list_reports(conn, customers=("acme",))) == 2
        assert store.list_reports(conn, customers=("globex",)) == []


def test_a_slot_is_claimed_once_on_every_backend(engine: Engine) -> None:
    with engine.begin() as conn:
        run = store.claim_run(conn, "inspection:acme", 1000.0, 1001.0, "a")
        assert run is not None
        assert store.claim_run(conn, "inspection:acme", 1000.0, 1002.0, "b") is None
        store.finish_run(conn, run, "ok", 1005.0)
    with engine.connect() as conn:
        assert store.last_runs(conn)["inspection:acme"]["status"] == "ok"

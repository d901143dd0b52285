"""The alerts service on a real store: evaluation, persistence across restarts, hand-over, reloads."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from collector.core.alerting.model import AlertChange, AlertState
from collector.errors import RuleError
from collector.ports import FixedClock
from collector.services import AppContext
from collector.store import alerts as store


def report(ctx: AppContext, host: str, when: datetime, load: float, customer: str = "acme") -> None:
    ctx.window.append_report(host, {"host": host, "customer": customer}, when.timestamp(),
                             [("node_load1", {}, load)])


class RecordingSink:
    """The ticket area's seam (collector.ports.AlertSink), recording what it is handed."""

    def __init__(self, fail: int = 0) -> None:
        self.changes: list[AlertChange] = []
        self.fail = fail

    def alerts_changed(self, changes: Sequence[Any], now: datetime) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("ticket store unavailable")
        self.changes.extend(changes)


def step(ctx: AppContext, clock: FixedClock, seconds: float, **loads: float) -> list[AlertChange]:
    now = clock.advance(seconds)
    for host, load in loads.items():
        report(ctx, host, now, load)
    return ctx.area("alerts").evaluate(now)


def test_an_alert_goes_pending_then_fires_once_and_resolves_once(
    make_ctx: Callable[[], AppContext], clock: FixedClock
) -> None:
    ctx = make_ctx()
    svc = ctx.area("alerts")
    svc.startup()
    sink = RecordingSink()
    ctx.areas["tickets"] = sink
    assert step(ctx, clock, 0, web1=5.0, web2=0.5) == []
    [pending] = svc.active()
    assert (pending.state, pending.labels["host"]) == (AlertState.PENDING, "web1")
    [fired] = step(ctx, clock, 60, web1=6.0, web2=0.5)
    assert (fired.state, fired.host, fired.customer, fired.playbook) == ("firing", "web1", "acme", "cpu-hogs")
    assert fired.annotations["summary"] == "web1 load 6"
    assert fired.active_at == clock.now() - timedelta(seconds=60)
    assert step(ctx, clock, 60, web1=7.0) == []  # still firing: not handed over again
    [resolved] = step(ctx, clock, 60, web1=1.0)
    assert resolved.state == "resolved"
    assert resolved.resolved_at == clock.now()
    assert [c.state for c in sink.changes] == ["firing", "resolved"]
    assert svc.active() == []


def test_changes_are_recorded_until_a_ticket_area_exists_then_delivered_once(
    make_ctx: Callable[[], AppContext], clock: FixedClock
) -> None:
    ctx = make_ctx()
    ctx.area("alerts").startup()
    step(ctx, clock, 0, web1=5.0)
    step(ctx, clock, 60, web1=5.0)
    with ctx.engine.connect() as conn:
        assert [c.state for _, c in store.undelivered(conn)] == ["firing"]
    failing = RecordingSink(fail=1)
    ctx.areas["tickets"] = failing
    step(ctx, clock, 15, web1=5.0)  # the hand-over fails: kept for the next evaluation
    assert failing.changes == []
    step(ctx, clock, 15, web1=5.0)
    assert [c.alertname for c in failing.changes] == ["LoadHigh"]
    step(ctx, clock, 15, web1=5.0)
    assert len(failing.changes) == 1
    with ctx.engine.connect() as conn:
        assert store.undelivered(conn) == []


class TransactionCountingSink(RecordingSink):
    """Records how many changes each hand-over carried (each is one ticket-area transaction)."""

    def __init__(self, fail_on_call: int | None = None) -> None:
        super().__init__()
        self.calls: list[int] = []
        self.fail_on_call = fail_on_call

    def alerts_changed(self, changes: Sequence[Any], now: datetime) -> None:
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            self.fail_on_call = None
            self.calls.append(0)
            raise RuntimeError("ticket store unavailable")
        self.calls.append(len(changes))
        super().alerts_changed(changes, now)


def test_an_alert_storm_is_handed_over_in_short_transactions_each_marked_at_once(
    make_ctx: Callable[[], AppContext], clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many hosts firing at once go to the ticket area a chunk per transaction (SQLite's write lock
    is released between chunks so ingest can commit); a failed chunk stays undelivered, the
    chunks before it are not offered again."""
    from collector.services import alerts as alerts_service

    monkeypatch.setattr(alerts_service, "DELIVER_CHUNK", 3)
    ctx = make_ctx()
    ctx.area("alerts").startup()
    storm = {f"web{i}": 5.0 for i in range(8)}
    step(ctx, clock, 0, **storm)
    sink = TransactionCountingSink(fail_on_call=2)
    ctx.areas["tickets"] = sink
    step(ctx, clock, 60, **storm)  # eight alerts fire: chunks of 3, 3, then the third chunk fails
    assert sink.calls == [3, 3, 0]
    with ctx.engine.connect() as conn:
        assert len(store.undelivered(conn)) == 2
    step(ctx, clock, 15, **storm)
    assert sink.calls == [3, 3, 0, 2]
    assert sorted(c.host for c in sink.changes) == sorted(storm)
    with ctx.engine.connect() as conn:
        assert store.undelivered(conn) == []


def test_a_restart_keeps_the_pending_timer(make_ctx: Callable[[], AppContext], clock: FixedClock) -> None:
    first = make_ctx()
    first.area("alerts").startup()
    step(first, clock, 0, web1=5.0)
    began = clock.now()
    step(first, clock, 30, web1=5.0)
    first.close()

    second = make_ctx()  # a restarted collector: same store, empty memory
    svc = second.area("alerts")
    svc.startup()
    [restored] = svc.evaluator.alerts()
    assert restored.state is AlertState.PENDING
    assert restored.active_at == began.timestamp()
    report(second, "web1", clock.now(), 5.0)
    [fired] = step(second, clock, 30, web1=5.0)  # 60 s after it became active, not 60 s after restart
    assert fired.state == "firing"
    assert fired.active_at == began


def test_a_restart_does_not_fire_a_firing_alert_again(
    make_ctx: Callable[[], AppContext], clock: FixedClock
) -> None:
    first = make_ctx()
    first.area("alerts").startup()
    step(first, clock, 0, web1=5.0)
    step(first, clock, 60, web1=5.0)
    first.close()
    second = make_ctx()
    second.area("alerts").startup()
    assert step(second, clock, 15, web1=5.0) == []
    assert [a.state for a in second.area("alerts").active()] == [AlertState.FIRING]


def test_a_bad_reload_keeps_the_rules_in_force(
    make_ctx: Callable[[], AppContext], clock: FixedClock, alerting_config: Any
) -> None:
    ctx = make_ctx()
    svc = ctx.area("alerts")
    svc.startup()
    rules_file = Path(alerting_config.alerting.rule_paths[0])
    good = rules_file.read_text()
    rules_file.write_text(good.replace("node_load1 > 2", "quantile(0.9, node_load1) > 2"))
    with pytest.raises(RuleError) as err:
        svc.reload()
    assert err.value.file == str(rules_file)
    assert "load/LoadHigh" in str(err.value)
    assert "quantile" in str(err.value)
    assert svc.last_reload_error == str(err.value)
    assert [r.expr_text for r in svc.evaluator.rules.rules()] == ["node_load1 > 2"]
    step(ctx, clock, 0, web1=5.0)
    assert [a.alertname for a in svc.active()] == ["LoadHigh"]

    # A rule that goes away resolves its firing alerts.
    step(ctx, clock, 60, web1=5.0)
    sink = RecordingSink()
    ctx.areas["tickets"] = sink
    rules_file.write_text("groups: []\n")
    assert svc.reload().rules == 0
    assert [c.state for c in sink.changes] == ["firing", "resolved"]  # recorded, then delivered
    assert svc.active() == []


def test_the_window_keeps_each_metric_as_far_back_as_the_rules_read_it(
    make_ctx: Callable[[], AppContext], alerting_config: Any
) -> None:
    ctx = make_ctx()
    step = alerting_config.alerting.interval
    ctx.window.append_report("h", {"host": "h", "customer": "acme"}, 0.0, [("node_load1", {}, 1.0)])
    rules_file = Path(alerting_config.alerting.rule_paths[0])
    rules_file.write_text(
        "groups:\n- name: g\n  rules:\n"
        "  - alert: Trend\n    expr: predict_linear(node_load1[8h], 3600) > 1\n"
        "  - alert: Busy\n    expr: rate(node_cpu_seconds_total[10m] offset 1h) > 0.9\n"
        "  - alert: Low\n    expr: node_memory_MemAvailable_bytes < 1\n"
    )
    ctx.area("alerts").reload()
    w = ctx.window
    base = max(alerting_config.retention.window, alerting_config.alerting.lookback + step)
    assert w.retention == base
    assert w.depth("node_load1") == 8 * 3600 + step
    assert w.depth("node_cpu_seconds_total") == 3600 + 600 + step
    assert w.depth("node_memory_MemAvailable_bytes") == base  # read over the lookback only
    assert w.depth("node_network_receive_bytes_total") == base  # read by no rule
    assert w.deepest == 8 * 3600 + step
    # node_load1 is held, and now kept deeper: its history is to be read back from the log.
    assert w.take_deepened() == {"node_load1": alerting_config.retention.window}
    # A selector naming no metric may read any series: every series is kept that far.
    rules_file.write_text(
        "groups:\n- name: g\n  rules:\n"
        "  - alert: Any\n    expr: count_over_time({__name__=~\"node_.*\"}[2h]) > 1000\n"
    )
    ctx.area("alerts").reload()
    assert w.retention == w.depth("node_load1") == w.deepest == 2 * 3600 + step
    rules_file.write_text("groups: []\n")
    ctx.area("alerts").reload()
    assert w.deepest == w.retention == base


def test_a_round_reads_the_window_in_a_thread_while_the_loops_changes_wait(
    make_ctx: Callable[[], AppContext], clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = make_ctx()
    svc = ctx.area("alerts")
    svc.startup()
    report(ctx, "web1", clock.now(), 5.0)
    entered, release = threading.Event(), threading.Event()
    real = svc.evaluator.evaluate

    def held_evaluate(window: Any, t: float, **kw: Any) -> Any:
        entered.set()
        release.wait(10)
        return real(window, t, **kw)

    monkeypatch.setattr(svc.evaluator, "evaluate", held_evaluate)

    async def main() -> list[str]:
        rnd = asyncio.create_task(svc.compute_async(clock.now()))
        for _ in range(5000):  # the loop keeps running while the round is under way
            if entered.is_set():
                break
            await asyncio.sleep(0.001)
        assert entered.is_set()
        assert ctx.gate.held
        ctx.gate.write(report, ctx, "web2", clock.now(), 9.0)
        hosts = sorted(ctx.window.hosts())
        release.set()
        outcome, _t = await rnd
        svc.commit(outcome.changes, _t)
        return hosts

    hosts_during = asyncio.run(main())
    assert hosts_during == ["web1"]
    assert sorted(ctx.window.hosts()) == ["web1", "web2"]
    # The round saw web1 only: web2's report came after it began.
    assert [a.labels["host"] for a in svc.active()] == ["web1"]


def test_alerts_and_evaluation_figures_are_exposed(
    make_ctx: Callable[[], AppContext], clock: FixedClock
) -> None:
    ctx = make_ctx()
    ctx.area("alerts").startup()
    step(ctx, clock, 0, web1=5.0)
    registry = CollectorRegistry()
    for c in ctx.metrics:
        registry.register(c)
    text = generate_latest(registry).decode()
    labels = 'alertname="LoadHigh",customer="acme",host="web1",severity="major"'
    pending = 'alertname="LoadHigh",alertstate="pending",customer="acme",host="web1",severity="major"'
    assert f"ALERTS{{{pending}}} 1.0" in text
    line = next(x for x in text.splitlines() if x.startswith("ALERTS_FOR_STATE{"))
    assert line.startswith(f"ALERTS_FOR_STATE{{{labels}}} ")
    assert float(line.rsplit(" ", 1)[1]) == int(clock.now().timestamp())
    assert "upkeep_rule_evaluation_duration_seconds_count 1.0" in text


def test_a_failing_rule_is_counted_and_the_others_still_run(
    make_ctx: Callable[[], AppContext], clock: FixedClock, alerting_config: Any
) -> None:
    ctx = make_ctx()
    rules_file = Path(alerting_config.alerting.rule_paths[0])
    rules_file.write_text(
        "groups:\n- name: g\n  rules:\n"
        "  - alert: Clash\n    expr: node_load1 > 0\n    labels:\n      host: same\n"
        "  - alert: High\n    expr: node_load1 > 2\n"
    )
    svc = ctx.area("alerts")
    svc.startup()
    step(ctx, clock, 0, web1=5.0, web2=5.0)
    assert [a.alertname for a in svc.active()] == ["High", "High"]
    clash = svc.evaluator.rules.groups[0].rules[0]
    assert "same labelset" in (svc.evaluator.health[clash.key].last_error or "")
    registry = CollectorRegistry()
    for c in ctx.metrics:
        registry.register(c)
    assert 'upkeep_rule_evaluation_failures_total{rule="Clash"} 1.0' in generate_latest(registry).decode()
    assert not math.isnan(svc.active()[0].value)


def test_a_change_the_store_could_not_take_is_written_with_the_next_evaluation(
    make_ctx: Callable[[], AppContext], clock: FixedClock, tmp_path: Path
) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError

    ctx = make_ctx()
    ctx.area("alerts").startup()
    step(ctx, clock, 0, web1=5.0)
    real = ctx.engine
    ctx.engine = create_engine(f"sqlite:///{tmp_path}/missing/dir/store.db")  # the store is unreachable
    with pytest.raises(OperationalError):
        step(ctx, clock, 60, web1=5.0)  # fires, but cannot be recorded
    ctx.engine.dispose()
    ctx.engine = real
    assert step(ctx, clock, 15, web1=5.0) == []
    with ctx.engine.connect() as conn:
        assert [c.state for _, c in store.undelivered(conn)] == ["firing"]
    assert [a.state for a in ctx.area("alerts").active()] == [AlertState.FIRING]


def test_alerts_list_on_the_command_line(
    make_ctx: Callable[[], AppContext], clock: FixedClock, alerting_config: Any, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    import yaml

    from collector.cli import main as upkeep_main

    ctx = make_ctx()
    ctx.area("alerts").startup()
    step(ctx, clock, 0, web1=5.0)
    step(ctx, clock, 60, web1=5.0, web2=3.0)
    config = tmp_path / "collector.yaml"
    config.write_text(yaml.safe_dump(alerting_config.model_dump(mode="json", exclude_defaults=True)))
    assert upkeep_main(["alerts", "list", "--json", "--config", str(config)]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted((a["host"], a["state"]) for a in listed) == [("web1", "firing"), ("web2", "pending")]
    assert upkeep_main(["alerts", "list", "--state", "firing", "--config", str(config)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["STATE", "SEVERITY", "ALERT"]
    assert [line.split()[:4] for line in table[1:]] == [["firing", "major", "LoadHigh", "web1"]]

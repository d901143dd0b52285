"""Alert-level differential tests: upkeep and the real promtool agree on the same rule tests.

The shipped pack's tests must pass under both. Then random rules (thresholds, ``for``,
``keep_firing_for``, templated labels and annotations) over random series are evaluated by
upkeep; what upkeep says fires at every minute is written down as promtool ``exp_alerts``, and
promtool must pass the file -- so pending/firing timing, keep_firing_for, labels and rendered
annotations are the same in both, minute by minute.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector.cli import main as upkeep_main
from collector.core.alerting.evaluator import RuleEvaluator
from collector.core.alerting.model import AlertState
from collector.core.alerting.rulefile import build_rule_set
from collector.core.promql import load_input_series
from tests.support import require_binary

pytestmark = pytest.mark.prometheus

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_TESTS = sorted((ROOT / "rules" / "tests").glob("*.yml"))


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = require_binary("promtool")
    return subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("path", SHIPPED_TESTS, ids=lambda p: p.name)
def test_the_shipped_rule_tests_pass_under_promtool_and_upkeep(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    theirs = promtool("test", "rules", path.name, cwd=path.parent)
    assert theirs.returncode == 0, theirs.stdout + theirs.stderr
    assert upkeep_main(["rules", "test", str(path)]) == 0, capsys.readouterr().out


def test_the_shipped_rule_files_pass_promtool_check_and_upkeep_check(
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = sorted((ROOT / "rules").glob("*.yml"))
    theirs = promtool("check", "rules", *(f.name for f in files), cwd=ROOT / "rules")
    assert theirs.returncode == 0, theirs.stdout + theirs.stderr
    assert upkeep_main(["rules", "check", *map(str, files)]) == 0, capsys.readouterr().out


def test_recording_rules_agree_with_promtool(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.alerting.test_rules_cli import RECORDING_RULES, RECORDING_TEST

    _write(tmp_path / "rec.yml", RECORDING_RULES)
    _write(tmp_path / "rec_test.yml", RECORDING_TEST)
    theirs = promtool("test", "rules", "rec_test.yml", cwd=tmp_path)
    assert theirs.returncode == 0, theirs.stdout + theirs.stderr
    assert upkeep_main(["rules", "test", str(tmp_path / "rec_test.yml")]) == 0, capsys.readouterr().out


# -- generated cases --------------------------------------------------------------------------------
MINUTES = 30


def _values(rng: random.Random) -> str:
    out = []
    level = rng.randint(0, 100)
    for _ in range(MINUTES + 1):
        roll = rng.random()
        if roll < 0.05:
            out.append("_")
        elif roll < 0.08:
            out.append("stale")
        else:
            if rng.random() < 0.3:
                level = rng.randint(0, 100)
            out.append(str(level))
    return " ".join(out)


def _case(rng: random.Random, i: int) -> tuple[dict[str, Any], dict[str, Any]]:
    metric = f"gen_metric_{i}"
    threshold = rng.randint(20, 80)
    op = rng.choice([">", "<", ">="])
    divisor = rng.choice(["", " / 3", " * 1.5"])
    rule: dict[str, Any] = {
        "alert": f"Generated{i}",
        "expr": f"{metric}{divisor} {op} {threshold}",
        "labels": {
            "severity": rng.choice(["warning", "major"]),
            "band": "{{ if gt $value 50.0 }}high{{ else }}low{{ end }}",
        },
        "annotations": {
            "summary": "{{ $labels.instance }} at {{ $value }} ({{ $value | humanize }})",
            "description": '{{ printf "%.2f" $value }} vs {{ humanizePercentage 0.25 }}'
                           " on {{ $labels.instance | toUpper }}",
        },
    }
    hold = rng.choice([0, 1, 2, 5])
    keep = rng.choice([0, 0, 1, 3])
    if hold:
        rule["for"] = f"{hold}m"
    if keep:
        rule["keep_firing_for"] = f"{keep}m"
    series = [
        {"series": f'{metric}{{instance="{name}",job="gen"}}', "values": _values(rng)}
        for name in rng.sample(["a", "b", "c"], rng.randint(1, 3))
    ]
    return {"name": f"generated-{i}", "rules": [rule]}, {"name": f"case {i}", "interval": "1m",
                                                         "input_series": series}


def _expected(
    rules_text: str, rules_path: str, group: dict[str, Any], alertname: str
) -> list[dict[str, Any]]:
    """What upkeep's evaluator fires at each minute, written as promtool alert_rule_test entries."""
    rules = build_rule_set([(rules_path, rules_text)])
    window = load_input_series(group["input_series"], 60.0)
    evaluator = RuleEvaluator(rules, lookback=300.0, default_interval=60.0)
    cases = []
    for minute in range(MINUTES + 1):
        outcome = evaluator.evaluate(window, minute * 60.0, every_group=True)
        assert not outcome.failures
        firing = [a for a in evaluator.alerts() if a.alertname == alertname and a.state is AlertState.FIRING]
        cases.append({
            "eval_time": f"{minute}m",
            "alertname": alertname,
            "exp_alerts": [
                {"exp_labels": {k: v for k, v in a.labels.items() if k != "alertname"},
                 "exp_annotations": dict(a.annotations)}
                for a in firing
            ],
        })
    return cases


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_generated_alert_tests_agree_with_promtool(
    seed: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(seed)
    groups, tests = [], []
    for i in range(6):
        g, t = _case(rng, seed * 100 + i)
        groups.append(g)
        tests.append(t)
    rules_text = yaml.safe_dump({"groups": groups}, sort_keys=False, allow_unicode=True)
    (tmp_path / "gen.yml").write_text(rules_text, encoding="utf-8")
    fired = 0
    for g, t in zip(groups, tests, strict=True):
        t["alert_rule_test"] = _expected(rules_text, str(tmp_path / "gen.yml"), t, g["rules"][0]["alert"])
        fired += sum(len(c["exp_alerts"]) for c in t["alert_rule_test"])
    assert fired, "the generated cases should fire at least sometimes"
    test_file = tmp_path / "gen_test.yml"
    _write(test_file, {"rule_files": ["gen.yml"], "evaluation_interval": "1m", "tests": tests})
    theirs = promtool("test", "rules", test_file.name, cwd=tmp_path)
    assert theirs.returncode == 0, theirs.stdout + theirs.stderr
    assert upkeep_main(["rules", "test", str(test_file)]) == 0, capsys.readouterr().out

    # A wrong expectation fails under both: the comparison really compares.
    firing_case = next(c for t in tests for c in t["alert_rule_test"] if c["exp_alerts"])
    firing_case["exp_alerts"][0]["exp_annotations"]["summary"] += " (wrong)"
    _write(test_file, {"rule_files": ["gen.yml"], "evaluation_interval": "1m", "tests": tests})
    assert promtool("test", "rules", test_file.name, cwd=tmp_path).returncode != 0
    assert upkeep_main(["rules", "test", str(test_file)]) != 0

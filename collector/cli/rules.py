"""`upkeep rules`: check rule files and run their unit tests (promtool's formats), no database needed.

    upkeep rules check FILE...   syntax, unsupported functions, templates; file and rule named
    upkeep rules test FILE...    promtool-format rule unit tests, pass/fail per test

Both exit 1 when anything is wrong, 0 otherwise.
"""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

import yaml

from collector.errors import RuleError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `upkeep rules check` and `upkeep rules test`."""
    parser = sub.add_parser("rules", help="check and test Prometheus-format rule files")
    rsub = parser.add_subparsers(dest="rules_command", metavar="ACTION", required=True)
    check = rsub.add_parser("check", help="validate rule files (like promtool check rules)")
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")
    check.set_defaults(func=run_check)
    test = rsub.add_parser("test", help="run rule unit tests (promtool's test-file format)")
    test.add_argument("files", nargs="+", type=Path, metavar="FILE")
    test.set_defaults(func=run_test)


def run_check(args: argparse.Namespace) -> int:
    from collector.core.alerting.rulefile import check_rule_file
    from collector.services.alerts import read_rule_files

    failed = False
    for path in args.files:
        try:
            files = read_rule_files([path])
        except RuleError as exc:
            print(f"FAILED: {exc}")
            failed = True
            continue
        for name, text in files:
            groups, problems = check_rule_file(text, name)
            if problems:
                failed = True
                print(f"FAILED: {name}")
                for p in problems:
                    print(f"  {p}")
            else:
                print(f"SUCCESS: {name}: {sum(len(g.rules) for g in groups)} rules found")
    return 1 if failed else 0


def _rule_files(test_file: Path, entries: list[str]) -> list[Path]:
    out: list[Path] = []
    for entry in entries:
        pattern = entry if Path(entry).is_absolute() else str(test_file.parent / entry)
        out.extend(Path(p) for p in sorted(glob.glob(pattern)))
    return out


def run_test(args: argparse.Namespace) -> int:
    from collector.core.alerting.rulefile import build_rule_set
    from collector.core.alerting.ruletests import RuleTestFileError, rule_files_of, run_rule_tests
    from collector.services.alerts import read_rule_files

    failed = False
    for path in args.files:
        print(f"Unit testing: {path}")
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            rules = build_rule_set(read_rule_files(_rule_files(path, rule_files_of(doc))))
            results = run_rule_tests(doc, rules)
        except (OSError, yaml.YAMLError, RuleTestFileError, RuleError) as exc:
            print(f"  FAILED: {exc}")
            failed = True
            continue
        for r in results:
            print(f"  {'PASS' if r.passed else 'FAIL'}: {r.name}")
            for f in r.failures:
                print(f)
            failed = failed or not r.passed
    return 1 if failed else 0

"""agent.yaml: a wrong key or value is one line naming the key, exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.cli import _plain_run
from agent.config import AgentConfig, load_config, parse_config, split_url
from agent.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("data", "key"), [
    ({"intervall": 15}, "intervall"),
    ({"interval": -1}, "interval"),
    ({"interval": "soon"}, "interval"),
    ({"jitter": 2}, "jitter"),
    ({"collector": {"url": "ftp://x"}}, "collector.url"),
    ({"collector": {"url": "http://collector:8080"}}, "collector.url"),
    ({"collector": {"ca_file": "/nonexistent/ca.pem"}}, "collector.ca_file"),
    ({"collector": {"urll": "https://x"}}, "collector.urll"),
    ({"spool": {"max_bytes": "lots"}}, "spool.max_bytes"),
    ({"metrics": {"listen": "localhost"}}, "metrics.listen"),
    ({"probes": {"fs_types_exclude": "(["}}, "probes.fs_types_exclude"),
    ({"checks": {"name": "x"}}, "checks"),
    ({"checks": [{"kind": "tcp", "port": 22}]}, "checks.0.name"),
    ({"checks": [{"name": "a", "kind": "tcp", "port": 22}, {"name": "a", "kind": "tcp", "port": 23}]},
     "checks.1.name"),
    ({"checks": [{"name": "a", "kind": "ping"}]}, "checks.0.kind"),
    ({"checks": [{"name": "a", "kind": "tcp", "port": "ssh"}]}, "checks.0.port"),
    ({"checks": [{"name": "a", "kind": "tcp", "port": 22, "timeout": "20s"}]}, "checks.0.timeout"),
    ({"checks": [{"name": "a", "kind": "tcp", "port": 22, "colour": "red"}]}, "checks.0.colour"),
    ({"checks": [{"name": "a", "kind": "process"}]}, "checks.0.name_pattern"),
    ({"checks": [{"name": "a", "kind": "command", "command": "check_disk -w 10%"}]}, "checks.0.command"),
    ({"checks": [{"name": "a", "kind": "http", "url": "gopher://x"}]}, "checks.0.url"),
    ({"checks": [{"name": "a", "kind": "logfile", "path": "/var/log/syslog", "pattern": "x",
                  "status": "panic"}]}, "checks.0.status"),
])
def test_a_wrong_key_or_value_names_the_key(data: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "agent.yaml")
    assert info.value.key == key
    assert str(info.value).startswith(f"agent.yaml: {key}: ")
    assert "\n" not in str(info.value)


def test_defaults() -> None:
    cfg = parse_config({})
    assert cfg == AgentConfig()
    assert cfg.interval == 15.0
    assert cfg.metrics_listen is None
    assert cfg.spool.max_bytes == 100 * 10**6
    assert cfg.spool.max_age == 86400


def test_units_and_every_check_kind(tmp_path: Path) -> None:
    cfg = parse_config({
        "interval": "30s", "spool": {"max_bytes": "64MiB", "max_age": "12h"},
        "metrics": {"listen": "127.0.0.1:9101"},
        "checks": [
            {"name": "nginx", "kind": "process", "name_pattern": "^nginx$", "min": 2},
            {"name": "ssh", "kind": "tcp", "port": 22, "timeout": "2s"},
            {"name": "web", "kind": "http", "url": "https://example.test/health", "status": [200, 204]},
            {"name": "disk", "kind": "command",
             "command": ["/usr/lib/nagios/plugins/check_disk", "-w", "10%"]},
            {"name": "syslog", "kind": "logfile", "path": "/var/log/syslog", "pattern": "I/O error"},
        ],
    })
    assert cfg.interval == 30.0
    assert cfg.spool.max_bytes == 64 * 2**20
    assert cfg.spool.max_age == 12 * 3600
    assert cfg.metrics_listen == ("127.0.0.1", 9101)
    assert [c.kind for c in cfg.checks] == ["process", "tcp", "http", "command", "logfile"]
    assert cfg.checks[1].timeout == 2.0


@pytest.mark.parametrize(("text", "words"), [
    ("intervall: 15\n", "intervall: unknown key"),
    ("checks:\n  - name: a\n    kind: tcp\n    port: 99999\n", "checks.0.port: must be an integer"),
    ("interval: [1\n", "line "),
    ("collector:\n  url: http://c:1\n", "collector.url: plaintext"),
])
def test_the_command_says_one_line_and_exits_2(tmp_path: Path, text: str, words: str) -> None:
    f = tmp_path / "agent.yaml"
    f.write_text(text)
    for cmd in ("check-config", "run"):
        out = subprocess.run([sys.executable, "-m", "agent.cli", cmd, "--config", str(f)], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 2, (cmd, out.stderr)
        assert out.stderr.count("\n") == 1, out.stderr
        assert words in out.stderr
        assert "Traceback" not in out.stderr


def test_check_config_accepts_a_good_file(tmp_path: Path) -> None:
    f = tmp_path / "agent.yaml"
    f.write_text("interval: 15s\nchecks:\n  - {name: ssh, kind: tcp, port: 22}\n")
    out = subprocess.run([sys.executable, "-m", "agent.cli", "check-config", "--config", str(f)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "OK (1 checks" in out.stdout


def test_the_example_config_in_deploy_is_valid() -> None:
    cfg = load_config(ROOT / "deploy" / "agent.yaml")
    assert cfg.checks


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failure
@given(st.floats(0.01, 7200, allow_nan=False), st.sampled_from([("ms", 0.001), ("s", 1.0), ("m", 60.0),
                                                                  ("h", 3600.0)]))
def test_durations_with_units(value: float, unit: tuple[str, float]) -> None:
    text = f"{value:.3f}{unit[0]}"
    seconds = float(f"{value:.3f}") * unit[1]
    if 1 <= seconds <= 3600:
        assert parse_config({"interval": text}).interval == pytest.approx(seconds)
    else:
        with pytest.raises(ConfigError):
            parse_config({"interval": text})


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failure
@given(st.integers(1, 10**6), st.sampled_from([("", 1), ("B", 1), ("KB", 1000), ("KiB", 1024), ("MB", 10**6),
                                                ("MiB", 2**20), ("GB", 10**9)]))
def test_sizes_with_units(n: int, unit: tuple[str, int]) -> None:
    assert parse_config({"spool": {"max_bytes": f"{n}{unit[0]}"}}).spool.max_bytes == n * unit[1]


def test_the_daemon_reads_the_same_config_through_its_child_parser(tmp_path: Path) -> None:
    """`run` parses the YAML in a forked child (the parser never enters its memory): same result,
    same errors, also for values only the in-process parser can carry (a date)."""
    example = ROOT / "deploy" / "agent.yaml"
    assert load_config(example, parse_apart=True) == load_config(example)
    for text in ("interval: [1\n", "interval: 2024-01-01\n", "state_dir: !!binary aGk=\n"):
        f = tmp_path / "agent.yaml"
        f.write_text(text)
        with pytest.raises(ConfigError) as apart:
            load_config(f, parse_apart=True)
        with pytest.raises(ConfigError) as here:
            load_config(f)
        assert str(apart.value) == str(here.value)


@pytest.mark.parametrize("url", [
    "https://Collector.Example:8443", "http://127.0.0.1:8080/base/path?x=1#f", "https://user:pw@h.example/p",
    "https://[::1]:443/x", "https://[fe80::1]", "HTTPS://h", "https://h:", "https://h/p#frag?x",
    "https://h?q/x", "https://h:0/",
])
def test_urls_are_split_as_urllib_splits_them(url: str) -> None:
    parts = urlsplit(url)
    assert split_url(url) == (parts.scheme, parts.hostname, parts.port, parts.path)


@pytest.mark.parametrize("url", ["https://", "https://:80", "ftp://h", "https://h:99999", "https://h:abc",
                                 "collector:8443", "https://h x", "https://[zz::1]/"])
def test_what_is_not_an_http_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match=r"URL|port"):
        split_url(url)


@pytest.mark.parametrize(("argv", "plain"), [
    (["run"], (True, None)),
    (["run", "--config", "/etc/a.yaml"], (True, "/etc/a.yaml")),
    (["run", "--config=/etc/a.yaml"], (True, "/etc/a.yaml")),
    (["run", "--conf", "/etc/a.yaml"], (False, None)),  # argparse's abbreviation: left to argparse
    (["run", "--config"], (False, None)),
    (["run", "--config", "-h"], (False, None)),
    (["once"], (False, None)),
    ([], (False, None)),
])
def test_run_is_recognised_without_argparse_and_the_rest_goes_to_it(argv: list[str],
                                                                   plain: tuple[bool, str | None]) -> None:
    assert _plain_run(argv) == plain

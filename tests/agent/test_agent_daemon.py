"""`upkeep-agent` as a real process: run until SIGTERM, /metrics, kill -9 with the collector down, enroll."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from agent.spool import scan_segment
from agent.state import AgentState
from tests.agent.collector_double import CollectorDouble, make_pki
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]


def _agent(*args: str) -> list[str]:
    return [sys.executable, "-m", "agent.cli", *args]


def _start(config: Path) -> subprocess.Popen[bytes]:
    # Logs go to a file: a pipe nobody reads would fill up and stall the agent.
    with open(config.with_suffix(".log"), "ab") as log:
        return subprocess.Popen(_agent("run", "--config", str(config)), cwd=ROOT, stdout=log, stderr=log)


def _until(what: str, cond: Callable[[], bool], limit: float = 60.0) -> None:
    """Poll for an event the agent causes; the limit only bounds a broken run."""
    end = time.monotonic() + limit
    while not cond():
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _write_config(tmp_path: Path, port: int, **extra: object) -> Path:
    cfg = {"state_dir": str(tmp_path / "state"), "interval": "1s", "jitter": 0,
           "collector": {"url": f"http://127.0.0.1:{port}", "allow_plaintext": True, "timeout": 5},
           "ssh_host_keys_dir": str(tmp_path / "ssh"), **extra}
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _spooled(state: Path) -> list[int]:
    """Sequence numbers on disk, read without touching the files (the agent may be writing)."""
    seqs: list[int] = []
    for seg in sorted((state / "spool").glob("seg-*.log")):
        records, _, _ = scan_segment(seg)
        seqs += [seq for _, _, seq, _ in records]
    return seqs


def _stop(proc: subprocess.Popen[bytes], config: Path) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    return proc.returncode, config.with_suffix(".log").read_text()


@pytest.fixture
def enrolled(tmp_path: Path) -> Iterator[Path]:
    AgentState(tmp_path / "state").save_enrollment("http://unused", "host-token")
    return tmp_path / "state"


def test_run_delivers_serves_metrics_and_stops_cleanly_on_sigterm(tmp_path: Path, enrolled: Path) -> None:
    double = CollectorDouble().start()
    metrics_port = free_port()
    config = _write_config(tmp_path, double.port, metrics={"listen": f"127.0.0.1:{metrics_port}"})
    proc = _start(config)
    try:
        _until("three reports", lambda: len(double.seqs()) >= 3)
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as resp:
            text = resp.read().decode()
        for series in ("node_load1 ", 'node_cpu_seconds_total{cpu="0",mode="idle"}',
                       "upkeep_agent_collection_duration_seconds ", "upkeep_agent_spool_reports ",
                       "upkeep_agent_push_failures_total ", "upkeep_agent_spool_dropped_total "):
            assert series in text
        assert "# TYPE node_cpu_seconds_total counter" in text
    finally:
        rc, err = _stop(proc, config)
        double.stop()
    assert rc == 0, err
    assert "Traceback" not in err
    seqs = double.seqs()
    assert seqs == sorted(set(seqs))
    report = double.reports[0]
    assert report["v"] == 1
    assert report["agent_id"] == (enrolled / "agent_id").read_text().strip()
    assert {s["name"] for s in report["samples"]} >= {"node_load1", "node_memory_MemAvailable_bytes"}
    assert os.stat(enrolled).st_mode & 0o777 == 0o700


@pytest.mark.slow
def test_kill_9_while_the_collector_is_down_loses_nothing(tmp_path: Path, enrolled: Path) -> None:
    port = free_port()
    config = _write_config(tmp_path, port)
    proc = _start(config)
    try:
        _until("reports spooled while the collector is down", lambda: len(_spooled(enrolled)) >= 5)
    finally:
        proc.kill()  # SIGKILL: no chance to tidy up
        proc.wait()
    unacknowledged = _spooled(enrolled)
    assert unacknowledged == sorted(unacknowledged)
    double = CollectorDouble(port=port).start()
    proc = _start(config)
    try:
        _until("the spool replayed", lambda: set(unacknowledged) <= set(double.seqs()))
        _until("new reports after the replay", lambda: double.seqs()[-1] > unacknowledged[-1])
    finally:
        rc, err = _stop(proc, config)
        double.stop()
    assert rc == 0, err
    seqs = double.seqs()
    assert seqs[: len(unacknowledged)] == unacknowledged  # in order, first
    assert seqs == sorted(set(seqs))  # strictly increasing: no repeats, the restart never reused a seq
    assert any(n > 1 for _, n in double.requests)  # the backlog went several per request


def test_the_agent_id_survives_restarts(tmp_path: Path) -> None:
    state = AgentState(tmp_path / "s")
    first = state.agent_id
    assert AgentState(tmp_path / "s").agent_id == first
    assert len(first) == 32
    seqs = [state.next_seq() for _ in range(3)]
    after_restart = AgentState(tmp_path / "s").next_seq()
    assert seqs == [1, 2, 3]
    assert after_restart > 3


def test_enroll_stores_the_host_token_privately(tmp_path: Path) -> None:
    double = CollectorDouble().start()
    ssh = tmp_path / "ssh"
    ssh.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ssh / "ssh_host_ed25519_key")],
                   check=True)
    config = _write_config(tmp_path, double.port)
    try:
        ok = subprocess.run(_agent("enroll", double.url, "enroll-me", "--config", str(config)), cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
        bad = subprocess.run(_agent("enroll", double.url, "wrong", "--config", str(config)), cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    finally:
        double.stop()
    assert ok.returncode == 0, ok.stderr
    assert "db-01" in ok.stdout
    state = tmp_path / "state"
    token = state / "token"
    assert token.read_text().strip() == "host-token"
    assert os.stat(token).st_mode & 0o777 == 0o600
    assert os.stat(state).st_mode & 0o777 == 0o700
    assert (state / "collector_url").read_text().strip() == double.url
    sent = double.enrollments[0]
    assert sent["token"] == "enroll-me"
    assert sent["agent_id"] == (state / "agent_id").read_text().strip()
    (key,) = sent["facts"]["ssh_host_keys"]
    assert key["type"] == "ssh-ed25519"
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1
    assert "401" in bad.stderr
    assert "unknown enrollment token" in bad.stderr


def test_once_prints_a_wire_format_report(tmp_path: Path) -> None:
    config = _write_config(tmp_path, free_port(), interval="30s",
                           checks=[{"name": "self", "kind": "process", "name_pattern": "python"}])
    out = subprocess.run(_agent("once", "--config", str(config)), cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["v"] == 1
    assert report["seq"] == 0
    assert len(report["agent_id"]) == 32
    assert report["checks"][0]["status"] == 0
    names = {s["name"] for s in report["samples"]}
    assert {"node_load1", "node_boot_time_seconds", "upkeep_check_status",
            "upkeep_agent_checks_run_total"} <= names


def test_prometheus_client_and_requests_stay_unloaded_without_metrics(tmp_path: Path, enrolled: Path) -> None:
    """The lean path: with /metrics off the agent never imports prometheus_client (about 12 MB)."""
    config = _write_config(tmp_path, free_port())
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from agent.config import load_config\n"
        "from agent.daemon import Agent\n"
        f"agent = Agent(load_config(Path({str(config)!r})))\n"
        "agent.cycle()\n"
        "agent.collection.close(); agent.spool.close()\n"
        "print(sorted(m for m in ('prometheus_client', 'requests', 'urllib3') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# What `run` must never load: together some ten megabytes of a daemon that runs for months, each
# with its lean replacement (agent/transport.py, agent/log.py, agent/procfs.py, the YAML parsed in
# a child process, named tuples, os.path, os.urandom, the interpreter's own SHA-256).
NOT_IN_THE_DAEMON = ("yaml", "http.client", "email", "argparse", "logging", "dataclasses", "inspect",
                     "typing", "secrets", "hashlib", "gzip", "subprocess", "encodings.idna", "pathlib",
                     "urllib.parse", "ipaddress", "prometheus_client")


def test_the_running_agent_over_tls_keeps_a_lean_import_set(tmp_path: Path, enrolled: Path) -> None:
    """`upkeep-agent run` pushing over verified TLS, asked for its sys.modules after a few cycles."""
    pki = make_pki(tmp_path)
    double = CollectorDouble(tls=(pki["cert"], pki["key"])).start()
    config = _write_config(tmp_path, double.port,
                           collector={"url": double.url, "ca_file": str(pki["ca"]), "timeout": 5})
    dump = tmp_path / "modules.txt"
    # A SIGUSR1 handler writes the module list; everything else is `upkeep-agent run --config FILE`.
    wrapper = (
        "import os, signal, sys\n"
        "def dump(signum, frame):\n"
        f"    with open({str(dump)!r} + '.tmp', 'w') as f:\n"
        "        f.write('\\n'.join(sorted(sys.modules)))\n"
        f"    os.replace({str(dump)!r} + '.tmp', {str(dump)!r})\n"
        "signal.signal(signal.SIGUSR1, dump)\n"
        "from agent.cli import main\n"
        f"sys.exit(main(['run', '--config', {str(config)!r}]))\n"
    )
    # -S: no site, so no editable-install finder (which imports pathlib and urllib.parse itself);
    # the packages are found as a regular install finds them, on the path.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), sysconfig.get_paths()["purelib"]])}
    with open(config.with_suffix(".log"), "ab") as log:
        proc = subprocess.Popen([sys.executable, "-S", "-c", wrapper], cwd=ROOT, env=env, stdout=log,
                                stderr=log)
    try:
        _until("three reports over TLS", lambda: len(double.seqs()) >= 3)
        proc.send_signal(signal.SIGUSR1)
        _until("the module list", dump.exists)
    finally:
        rc, err = _stop(proc, config)
        double.stop()
    assert rc == 0, err
    loaded = set(dump.read_text().split())
    assert {"ssl", "agent.daemon", "agent.transport"} <= loaded  # the list is the running agent's
    assert sorted(loaded & set(NOT_IN_THE_DAEMON)) == []
    if sys.platform.startswith("linux"):
        assert "psutil" not in loaded  # /proc is read directly there


def test_run_without_enrollment_says_so_and_exits_2(tmp_path: Path) -> None:
    config = _write_config(tmp_path, free_port())
    out = subprocess.run(_agent("run", "--config", str(config)), cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2
    assert "not enrolled" in out.stderr
    assert out.stderr.count("\n") == 1

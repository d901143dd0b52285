"""The runner against real OpenSSH servers: verified keys, failures per host, limits, bastions."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from collector.core.playbook import parse_playbook
from collector.remote.catalog import SHIPPED, Catalog
from collector.remote.connection import Timeouts
from collector.remote.fanout import Fleet
from collector.remote.known_hosts import HostKeyCheck, KnownHosts, fingerprint
from collector.remote.targets import Endpoint, KeyRing, Target
from tests.remote.conftest import target, trusted
from tests.support.sshd import SshLab, SshServer, generate_key

pytestmark = pytest.mark.sshd

NOTHING_HAPPENED = ("Accepted publickey", "Postponed publickey", "Failed publickey", "Starting session")


def _playbook(text: str) -> object:
    return parse_playbook(yaml.safe_load(text))


ECHO = _playbook(r"""
name: echo
parameters:
  v: {type: str, default: x}
steps:
  - name: echo
    run: printf '%s' {{ v }}
    capture:
      echoed: {regex: '(?s)^(.*)$'}
""")


def _log_mark(server: SshServer) -> int:
    return len(server.log())


def _since(server: SshServer, mark: int) -> str:
    return server.log()[mark:]


@pytest.mark.slow
def test_every_shipped_playbook_runs(lab: SshLab, fleet: Fleet) -> None:
    catalog = Catalog()
    names = sorted(catalog.load())
    assert names == sorted(p.stem for p in SHIPPED.glob("*.yaml"))
    assert {"disk-usage", "memory-top", "cpu-hogs", "service-status", "network", "kernel-errors",
            "time-sync", "disk-health", "monthly-inspection"} <= set(names)
    hosts = [target(s) for s in lab.servers[:2]]
    for name in names:
        playbook = catalog.get(name)
        params = {"service": "ssh"} if name == "service-status" else {}
        runs = fleet.run(hosts, playbook, params, forks=2)
        for run in runs:
            assert run.status == "passed", (name, run.reason, [(s.step, s.verdict, s.output[:200])
                                                               for s in run.outcome.steps])
            assert run.outcome is not None
            assert run.outcome.findings, name


def test_disk_usage_findings_carry_values(lab: SshLab, fleet: Fleet) -> None:
    [run] = fleet.run([target(lab.servers[0])], Catalog().get("disk-usage"), {"path": "/", "top": 3})
    assert run.status == "passed"
    usage = next(f for f in run.outcome.findings if f.name == "usage")
    assert isinstance(usage.values["use"], int)
    assert 0 <= usage.values["use"] <= 100
    assert usage.values["mount"] == "/"


@pytest.mark.slow
def test_monthly_inspection_is_structured(lab: SshLab, fleet: Fleet) -> None:
    [run] = fleet.run([target(lab.servers[0])], Catalog().get("monthly-inspection"), {})
    assert run.status == "passed"
    fs = [f for f in run.outcome.findings if f.name == "filesystem-usage"]
    assert fs
    assert all(isinstance(f.values["use"], int) for f in fs)
    assert any(f.values["mount"] == "/" for f in fs)
    memory = next(f for f in run.outcome.findings if f.name == "memory")
    assert memory.values["mem_total_kb"] > 0
    assert {"load", "uptime"} <= {f.name for f in run.outcome.findings}


def test_an_unknown_key_is_refused_before_authentication(lab: SshLab, fleet: Fleet) -> None:
    server = lab.servers[1]
    mark = _log_mark(server)
    [run] = fleet.run([target(server, trust=False)], ECHO, {"v": "hello"})
    assert run.status == "host-key-unknown"
    assert run.fingerprint == fingerprint(server.host_key)
    assert fingerprint(server.host_key) in run.reason
    assert "upkeep hosts trust" in run.reason
    log = _since(server, mark)
    assert "Connection from 127.0.0.1" in log
    assert not any(word in log for word in NOTHING_HAPPENED), log


def test_a_changed_key_is_refused_loudly(lab: SshLab, tmp_path: Path) -> None:
    server = lab.servers[1]
    impostor = generate_key(tmp_path / "other_host_key")
    known = KnownHosts(tmp_path / "known_hosts")
    known.add("127.0.0.1", server.port, impostor)
    fleet = Fleet(check=HostKeyCheck(known), keys=KeyRing(lab.client_key_path))
    mark = _log_mark(server)
    [run] = fleet.run([target(server, trust=False)], ECHO, {})
    assert run.status == "host-key-changed"
    assert "HOST KEY CHANGED" in run.reason
    assert "man-in-the-middle" in run.reason
    assert fingerprint(impostor) in run.reason
    assert fingerprint(server.host_key) in run.reason
    log = _since(server, mark)
    assert not any(word in log for word in NOTHING_HAPPENED), log


def test_an_agent_reporting_other_keys_means_changed(lab: SshLab, fleet: Fleet, tmp_path: Path) -> None:
    server = lab.servers[2]
    other = lab.servers[3]
    mark = _log_mark(server)
    t = Target("web-01", Endpoint("127.0.0.1", server.port, "root", trusted_keys=trusted(other)))
    [run] = fleet.run([t], ECHO, {})
    assert run.status == "host-key-changed"
    assert not any(word in _since(server, mark) for word in NOTHING_HAPPENED)


def test_a_key_trusted_by_an_engineer_is_accepted(lab: SshLab, tmp_path: Path) -> None:
    server = lab.servers[2]
    known = KnownHosts(tmp_path / "known_hosts")
    known.add("127.0.0.1", server.port, server.host_key)
    assert f"[127.0.0.1]:{server.port} ssh-ed25519 " in (tmp_path / "known_hosts").read_text()
    fleet = Fleet(check=HostKeyCheck(known), keys=KeyRing(lab.client_key_path))
    [run] = fleet.run([target(server, trust=False)], ECHO, {"v": "trusted"})
    assert run.status == "passed"
    assert run.outcome.values["echoed"] == "trusted"


def test_a_bad_client_key_fails_that_host_only(lab: SshLab, fleet: Fleet, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger_key"
    generate_key(stranger)
    bad = target(lab.servers[0], "bad-key", key_file=stranger)
    closed = Target("closed", Endpoint("127.0.0.1", _closed_port(), "root", label="closed"))
    good = target(lab.servers[1], "good")
    runs = fleet.run([bad, closed, good], ECHO, {"v": "ok"}, forks=3)
    by_host = {r.host: r for r in runs}
    assert by_host["bad-key"].status == "auth-failed"
    assert "refused key authentication" in by_host["bad-key"].reason
    assert by_host["closed"].status == "unreachable"
    assert "Connection refused" in by_host["closed"].reason
    assert by_host["good"].status == "passed"


def _closed_port() -> int:
    from tests.support import free_port

    return free_port()


def test_a_hanging_command_times_out_and_the_run_goes_on(lab: SshLab, fleet: Fleet) -> None:
    playbook = _playbook("""
name: hang
steps:
  - {name: hang, run: sleep 30, timeout: 1s}
  - {name: after, run: echo still here, pass_if: still here}
""")
    [run] = fleet.run([target(lab.servers[0])], playbook, {})
    assert [s.verdict for s in run.outcome.steps] == ["timeout", "passed"]
    assert run.status == "failed"
    assert run.outcome.steps[0].duration < 15


def test_huge_output_is_cut_with_a_marker(lab: SshLab, lab_fleet_small_cap: Fleet) -> None:
    playbook = _playbook("""
name: huge
steps:
  - {name: huge, run: "head -c 5000000 /dev/zero | tr '\\\\0' a; echo; echo done"}
""")
    [run] = lab_fleet_small_cap.run([target(lab.servers[0])], playbook, {})
    step = run.outcome.steps[0]
    assert step.verdict == "passed"
    assert step.exit_code == 0
    assert step.truncated
    assert len(step.output) < 5000
    assert "output cut at 4096 bytes" in step.output


@pytest.fixture
def lab_fleet_small_cap(lab: SshLab, tmp_path: Path) -> Fleet:
    return Fleet(check=HostKeyCheck(KnownHosts(tmp_path / "kh")), keys=KeyRing(lab.client_key_path),
                 output_cap=4096, secrets=("s3cr3t-value",))


def test_secrets_are_redacted_from_output_and_commands(lab: SshLab, lab_fleet_small_cap: Fleet) -> None:
    [run] = lab_fleet_small_cap.run([target(lab.servers[0])], ECHO, {"v": "token=s3cr3t-value"})
    step = run.outcome.steps[0]
    assert "s3cr3t-value" not in step.output
    assert "s3cr3t-value" not in step.command
    assert step.output == "token=[redacted]"


def test_fetch_reads_a_file_up_to_its_cap(lab: SshLab, fleet: Fleet, tmp_path: Path) -> None:
    remote_file = tmp_path / "remote.log"
    remote_file.write_text("line\n" * 1000)
    playbook = parse_playbook({
        "name": "fetch", "parameters": {"file": {"type": "str"}},
        "steps": [{"name": "get", "fetch": {"path": "{{ file }}", "max_bytes": 100},
                   "capture": {"first": "^(line)$"}},
                  {"name": "missing", "fetch": "/nonexistent/file", "expect_exit": [0, 2]}],
    })
    [run] = fleet.run([target(lab.servers[0])], playbook, {"file": str(remote_file)})
    get, missing = run.outcome.steps
    assert get.verdict == "passed"
    assert get.truncated
    assert get.output.startswith("line\n" * 20)
    assert get.captured == {"first": "line"}
    assert missing.exit_code == 2
    assert "no such file" in missing.output


def test_a_two_hop_bastion_chain(lab: SshLab, fleet: Fleet) -> None:
    first, second, final = lab.servers[0], lab.servers[1], lab.servers[3]
    marks = [_log_mark(s) for s in (first, second, final)]
    t = Target(
        "behind-bastions",
        Endpoint("127.0.0.1", final.port, "root", trusted_keys=trusted(final), label="behind-bastions"),
        jumps=(Endpoint("127.0.0.1", first.port, "root", trusted_keys=trusted(first)),
               Endpoint("127.0.0.1", second.port, "root", trusted_keys=trusted(second))),
    )
    [run] = fleet.run([t], ECHO, {"v": "through two hops"})
    assert run.status == "passed", run.reason
    assert run.outcome.values["echoed"] == "through two hops"
    servers = (first, second, final)
    first_log, second_log, final_log = (_since(s, m) for s, m in zip(servers, marks, strict=True))
    # Each hop authenticated and forwarded; only the final host ran a command.
    assert "Accepted publickey" in first_log
    assert "Starting session" not in first_log
    assert "Accepted publickey" in second_log
    assert "Starting session" not in second_log
    assert "Starting session: command" in final_log


def test_a_bastion_with_an_unknown_key_stops_the_chain(lab: SshLab, fleet: Fleet) -> None:
    bastion, final = lab.servers[0], lab.servers[2]
    marks = (_log_mark(bastion), _log_mark(final))
    t = Target("guarded", Endpoint("127.0.0.1", final.port, "root", trusted_keys=trusted(final)),
               jumps=(Endpoint("127.0.0.1", bastion.port, "root"),))
    [run] = fleet.run([t], ECHO, {})
    assert run.status == "host-key-unknown"
    assert not any(w in _since(bastion, marks[0]) for w in NOTHING_HAPPENED)
    assert "Connection from" not in _since(final, marks[1])


HOSTILE = [
    "; touch {canary}",
    "$(touch {canary})",
    "`touch {canary}`",
    "x\ntouch {canary}\n",
    "'; touch {canary}; '",
    '"; touch {canary}; "',
    "a' \"$(touch {canary})\" `touch {canary}` 'b",
    "$(touch {canary}) && touch {canary} || touch {canary} | touch {canary} & touch {canary}",
    "-n $(touch {canary})",
]


def test_hostile_parameters_never_run(lab: SshLab, fleet: Fleet, tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    values = [h.format(canary=canary) for h in HOSTILE]
    for value in values:
        [run] = fleet.run([target(lab.servers[0])], ECHO, {"v": value})
        assert run.status == "passed"
        assert run.outcome.steps[0].output == value
        assert not canary.exists(), value


def test_keys_with_a_passphrase_from_a_file_or_the_environment(lab: SshLab, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "locked_key"
    pub = generate_key(key, passphrase="open sesame")
    with open(lab.authorized_keys, "a", encoding="utf-8") as f:
        f.write(f"{pub.get_name()} {pub.get_base64()}\n")
    (tmp_path / "passphrase").write_text("open sesame\n")
    monkeypatch.setenv("UPKEEP_TEST_PASSPHRASE", "open sesame")
    fleet = Fleet(check=HostKeyCheck(KnownHosts(tmp_path / "kh")), keys=KeyRing(),
                  timeouts=Timeouts(connect=10))
    by_file = target(lab.servers[0], "by-file", key_file=key, passphrase_file=tmp_path / "passphrase")
    by_env = target(lab.servers[1], "by-env", key_file=key, passphrase_env="UPKEEP_TEST_PASSPHRASE")
    none = target(lab.servers[2], "none", key_file=key)
    runs = {r.host: r for r in fleet.run([by_file, by_env, none], ECHO, {})}
    assert runs["by-file"].status == "passed"
    assert runs["by-env"].status == "passed"
    assert runs["none"].status == "error"
    assert "needs a passphrase" in runs["none"].reason

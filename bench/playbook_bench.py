"""Benchmark: the disk-usage playbook over 50 hosts, against Ansible ad-hoc and plain OpenSSH.

    .venv/bin/python bench/playbook_bench.py [--hosts 50] [--forks 20] [--repeat 3]

Fifty SSH "hosts" are ports of a few real sshd processes on 127.0.0.1 (each sshd listens on
several ports; every connection still gets its own sshd child, key exchange and login).
Each contender runs the same four commands -- the disk-usage playbook's steps rendered for
``path=/etc`` -- on every host, 20 hosts at a time, side by side in one run:

- upkeep: ``DiagnosisService.run_playbook`` (verified host keys, one connection per host,
  one exec channel per step, results and findings stored in SQLite);
- Ansible ad-hoc (ansible-core in its own virtualenv under /tmp, never a project dependency),
  one ``ansible all -m shell`` per command, with its default settings and with pipelining;
- plain OpenSSH: ``xargs -P 20 ssh`` with the four commands joined in one session per host.

Each contender runs ``--repeat`` times; medians are reported and written to BENCHMARKS.md
between the ``bench:playbook`` markers.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sections import write_section  # noqa: E402

from collector.app import build_context  # noqa: E402
from collector.config import build_config  # noqa: E402
from collector.core.playbook import render_command, resolve_parameters  # noqa: E402
from collector.remote.catalog import Catalog  # noqa: E402
from collector.remote.known_hosts import KnownHosts  # noqa: E402
from tests.support import free_port  # noqa: E402
from tests.support.sshd import SshLab  # noqa: E402

ANSIBLE_VENV = Path(tempfile.gettempdir()) / "upkeep-bench-ansible"
PORTS_PER_SSHD = 10
PARAMS = {"path": "/etc", "top": "10"}


def ensure_ansible() -> Path:
    ansible = ANSIBLE_VENV / "bin" / "ansible"
    if not ansible.exists():
        subprocess.run([sys.executable, "-m", "venv", str(ANSIBLE_VENV)], check=True)
        subprocess.run([str(ANSIBLE_VENV / "bin" / "pip"), "install", "-q", "ansible-core"], check=True)
    return ansible


def start_hosts(lab: SshLab, count: int) -> list[int]:
    ports: list[int] = []
    key = lab.shared_host_key()
    while len(ports) < count:
        batch = [free_port() for _ in range(min(PORTS_PER_SSHD, count - len(ports)))]
        extra = "".join(f"Port {p}\n" for p in batch[1:])
        lab.start(host_key=key, port=batch[0], extra=extra)
        ports.extend(batch)
    return ports


def commands() -> list[str]:
    playbook = Catalog().get("disk-usage")
    values = resolve_parameters(playbook, PARAMS)
    return [render_command(step.run or "", values) for step in playbook.steps]


def time_upkeep(data: Path, lab: SshLab, ports: list[int], forks: int) -> tuple[float, dict[str, int]]:
    names = [f"h{i:02d}" for i in range(len(ports))]
    config = build_config({
        "data_dir": str(data),
        "remote": {
            "enabled": True, "key_file": str(lab.client_key_path), "allowed_hosts": ["*"], "forks": forks,
            "hosts": {n: {"address": "127.0.0.1", "port": p, "customer": "bench"}
                      for n, p in zip(names, ports, strict=True)},
        },
    })
    known = KnownHosts(data / "known_hosts")
    for p in ports:
        known.add("127.0.0.1", p, lab.shared_host_key()[1])
    ctx = build_context(config)
    try:
        started = time.perf_counter()
        run = ctx.area("diagnosis").run_playbook("disk-usage", names, PARAMS, trigger="manual")
        elapsed = time.perf_counter() - started
    finally:
        ctx.close()
    for h in run.hosts:
        if h.status != "passed":
            bad = [(s.step, s.verdict, s.reason, s.output[-300:]) for s in h.steps if s.verdict != "passed"]
            print(f"{h.host}: {h.status} {h.reason} {bad}", file=sys.stderr)
    return elapsed, run.summary


def ssh_options(lab: SshLab, known_hosts: Path) -> list[str]:
    return ["-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", "-i", str(lab.client_key_path),
            "-o", "LogLevel=ERROR"]


def time_openssh(lab: SshLab, ports: list[int], forks: int, known_hosts: Path, cmds: list[str]) -> float:
    ssh = ["ssh", *ssh_options(lab, known_hosts)]
    script = "; ".join(cmds)
    xargs = (f"xargs -P {forks} -I PORT {shlex.join(ssh)} -p PORT root@127.0.0.1 {shlex.quote(script)} "
             "> /dev/null")
    started = time.perf_counter()
    subprocess.run(["sh", "-c", xargs], input="\n".join(map(str, ports)) + "\n", text=True, check=True)
    return time.perf_counter() - started


def time_ansible(ansible: Path, inventory: Path, forks: int, cmds: list[str], *, pipelining: bool,
                 workdir: Path) -> float:
    env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING="True", ANSIBLE_PIPELINING=str(pipelining),
               ANSIBLE_LOCAL_TEMP=str(workdir / "ansible-local"),
               ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3",
               ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="False",
               ANSIBLE_SSH_CONTROL_PATH_DIR=str(workdir / "cp"))
    started = time.perf_counter()
    for cmd in cmds:
        done = subprocess.run([str(ansible), "all", "-i", str(inventory), "-f", str(forks), "-m", "shell",
                               "-a", cmd], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            tail = done.stdout[-2000:] + done.stderr[-2000:]
            raise SystemExit(f"ansible failed ({done.returncode}): {tail}")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--forks", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print, do not update BENCHMARKS.md")
    args = parser.parse_args()
    Path("/run/sshd").mkdir(exist_ok=True)
    ansible = ensure_ansible()
    version = subprocess.run([str(ansible), "--version"], capture_output=True, text=True).stdout
    version = version.splitlines()[0] if version else "ansible"
    cmds = commands()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="upkeep-bench-") as tmp:
        work = Path(tmp)
        lab = SshLab(work / "lab")
        try:
            ports = start_hosts(lab, args.hosts)
            known_hosts = work / "known_hosts_openssh"
            key = lab.shared_host_key()[1]
            line = f"{key.get_name()} {key.get_base64()}"
            known_hosts.write_text("".join(f"[127.0.0.1]:{p} {line}\n" for p in ports))
            inventory = work / "inventory.ini"
            opts = " ".join(ssh_options(lab, known_hosts)[:-2])
            inventory.write_text("[all]\n" + "".join(
                f"h{i:02d} ansible_host=127.0.0.1 ansible_port={p} ansible_user=root "
                f"ansible_ssh_private_key_file={lab.client_key_path} ansible_ssh_common_args='{opts}'\n"
                for i, p in enumerate(ports)))
            results: dict[str, list[float]] = {"upkeep": [], "openssh": [], "ansible": [], "ansible_pipe": []}
            for r in range(args.repeat):
                elapsed, summary = time_upkeep(work / f"data{r}", lab, ports, args.forks)
                if summary != {"passed": args.hosts}:
                    raise SystemExit(f"upkeep run did not pass everywhere: {summary}")
                results["upkeep"].append(elapsed)
                results["openssh"].append(time_openssh(lab, ports, args.forks, known_hosts, cmds))
                results["ansible"].append(time_ansible(ansible, inventory, args.forks, cmds, pipelining=False,
                                                       workdir=work))
                results["ansible_pipe"].append(time_ansible(ansible, inventory, args.forks, cmds,
                                                            pipelining=True, workdir=work))
                latest = ", ".join(f"{k} {v[-1]:.2f}s" for k, v in results.items())
                print(f"round {r + 1}: {latest}", flush=True)
        finally:
            lab.stop()
    load_after = os.getloadavg()[0]
    med = {k: statistics.median(v) for k, v in results.items()}
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    ratio = {k: med[k] / med["upkeep"] for k in med}
    rounds = "; ".join(f"{k} " + "/".join(f"{x:.2f}" for x in v) for k, v in results.items())
    text = f"""## Remote diagnosis: disk-usage playbook over {args.hosts} hosts

Measured {when} on this machine ({os.cpu_count()} cores shared with other work: load average
{load_before:.1f} before, {load_after:.1f} after, so absolute times are inflated alike for all four),
{args.hosts} SSH hosts (ports of
{len(lab.servers)} real sshd processes on 127.0.0.1), {args.forks} at a time, the same four commands
(the disk-usage playbook's steps for `path=/etc`), medians of {args.repeat} rounds run side by side.

| contender | median | upkeep is faster by |
|---|---:|---:|
| upkeep `run_playbook` (verified keys, results stored) | {med['upkeep']:.2f} s | - |
| Ansible ad-hoc, default ({version.strip()}) | {med['ansible']:.2f} s | {ratio['ansible']:.1f}x |
| Ansible ad-hoc, pipelining | {med['ansible_pipe']:.2f} s | {ratio['ansible_pipe']:.1f}x |
| plain OpenSSH, `xargs -P {args.forks} ssh` | {med['openssh']:.2f} s | {ratio['openssh']:.1f}x |

Goals: at least 5x Ansible's default, 2.5x Ansible with pipelining, no slower than plain OpenSSH
(ratio >= 1.0). Every round, in seconds: {rounds}.
Plain OpenSSH gets the easiest task: the four commands joined into one session per host, where
upkeep opens one exec channel per step on its one connection per host and stores every result.

    .venv/bin/python bench/playbook_bench.py --hosts {args.hosts} --forks {args.forks} --repeat {args.repeat}
"""
    print(text)
    if not args.no_write:
        write_section("playbook", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

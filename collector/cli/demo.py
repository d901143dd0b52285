"""`upkeep demo`: the whole system on this machine, nothing needing root or SSH.

It writes a demo site into a data directory (a temporary one unless given): two customers, one
with a 5x8 contract and one with 7x24, two engineers, the shipped rules and playbooks, SQLite.
Then it starts ``upkeep serve`` on 127.0.0.1, enrolls this machine with a real ``upkeep-agent``
pushing over plain http to it, opens a manual demo ticket, and lets a demo check go CRITICAL so a
shipped rule fires and opens a ticket of its own. It prints the URLs and commands to try, and on
Ctrl-C or SIGTERM stops the agent, then the server, and exits 0.

Server and agent run as child processes in their own sessions: the terminal's Ctrl-C reaches
only this process, which stops them in order (the agent first, so its last report is delivered).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from collector.config import DEFAULT_PORT, load_config
from collector.errors import ConfigError, UpkeepError

# The agent enrolls for the 7x24 customer, so SLA clocks run at whatever hour the demo is tried.
AGENT_CUSTOMER = "demo-hospital"
AGENT_INTERVAL = "5s"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0

DEMO_SITE: dict[str, Any] = {
    "alerting": {"interval": "5s"},
    "customers": [
        {
            "name": "demo-factory",
            "display_name": "Demo Factory (5x8: Mon-Fri 09:30-19:30 Shanghai)",
            "timezone": "Asia/Shanghai",
            "contract": {"window": "5x8", "holidays": "CN"},
        },
        {
            "name": AGENT_CUSTOMER,
            "display_name": "Demo Hospital (7x24)",
            "timezone": "Europe/Berlin",
            "contract": {"window": "7x24"},
        },
    ],
    "engineers": [
        {"name": "li-wei", "display_name": "Li Wei", "role": "lead", "skills": ["linux", "database"]},
        {"name": "anna-schmidt", "display_name": "Anna Schmidt", "skills": ["linux", "network"]},
    ],
}


@dataclass
class Child:
    """A server or agent process with its log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Demo:
    data_dir: Path
    listen: str
    children: list[Child] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # The web console's path, when this build serves one.
    console: str | None = None
    # Set by SIGINT/SIGTERM; start-up gives up waiting as soon as it is set.
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://{self.listen}"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "collector.yaml"

    def upkeep(self, *argv: str) -> list[str]:
        """An ``upkeep`` command line against the demo's configuration and data."""
        return [
            *_python("collector.cli"),
            "--config",
            str(self.config_path),
            "--data-dir",
            str(self.data_dir),
            *argv,
        ]

    def start(self, name: str, argv: list[str]) -> Child:
        log = self.data_dir / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=_child_env(),
            )
        child = Child(name, proc, log)
        self.children.append(child)
        return child

    def stop_all(self) -> None:
        # Newest first: the agent before the server it pushes to.
        for child in reversed(self.children):
            child.stop()


def _python(module: str) -> list[str]:
    """Run a package's ``main()`` with this interpreter, so the demo needs nothing on PATH."""
    return [sys.executable, "-c", f"import sys; from {module} import main; sys.exit(main())"]


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        # As uvicorn binds: a connection of a previous run lingering in TIME_WAIT is no obstacle.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _choose_listen(requested: str | None) -> str:
    """The requested address, or 127.0.0.1:8470, or any free port when 8470 is taken."""
    if requested:
        host, _, port = requested.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError("--listen", "must be HOST:PORT, e.g. 127.0.0.1:8470")
        if not _port_free(host.strip("[]"), int(port)):
            raise ConfigError("--listen", f"{requested} is already in use")
        return requested
    if _port_free("127.0.0.1", DEFAULT_PORT):
        return f"127.0.0.1:{DEFAULT_PORT}"
    return f"127.0.0.1:{_free_port()}"


def write_site(demo: Demo) -> None:
    """The demo's collector.yaml; validated the way ``upkeep serve`` will read it."""
    site = dict(DEMO_SITE, listen=demo.listen, data_dir=str(demo.data_dir))
    demo.config_path.write_text(yaml.safe_dump(site, sort_keys=False, allow_unicode=True), encoding="utf-8")
    load_config(demo.config_path)


class Interrupted(Exception):
    """Ctrl-C or SIGTERM arrived while the demo was starting."""


def wait_for(demo: Demo, what: str, probe: Callable[[], bool], child: Child) -> None:
    """Poll ``probe`` until true; a child that exits meanwhile fails at once with its log."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if demo.stop.is_set():
            raise Interrupted
        if not child.alive():
            raise UpkeepError(f"the {child.name} exited ({child.proc.returncode}):\n{child.tail()}")
        with contextlib.suppress(httpx.HTTPError, OSError):
            if probe():
                return
        time.sleep(0.2)
    raise UpkeepError(f"timed out waiting for {what}")


def run_command(demo: Demo, argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=_child_env(), check=False)
    if done.returncode != 0:
        raise UpkeepError(f"{' '.join(argv[3:])} failed: {(done.stderr or done.stdout).strip()}")
    return done.stdout.strip()


def start_collector(demo: Demo) -> Child:
    child = demo.start("collector", demo.upkeep("serve"))
    health = f"{demo.url}/healthz"
    wait_for(demo, health, lambda: httpx.get(health, timeout=2).status_code == 200, child)
    return child


def create_tokens(demo: Demo) -> tuple[str, str]:
    """An admin API token (printed, for curl) and an enrollment token for the agent's customer.

    The admin token is made as an operator makes one, with `upkeep tokens create`; the
    enrollment token then through the API, which saves starting another process.
    """
    admin = _last_word(
        run_command(demo, demo.upkeep("tokens", "create", "--role", "admin", "--name", "demo"))
    )
    r = httpx.post(
        f"{demo.url}/api/v1/enrollment-tokens",
        headers={"Authorization": f"Bearer {admin}"},
        json={"customer": AGENT_CUSTOMER, "expires": "1h"},
        timeout=30,
    )
    if r.status_code != 201:
        raise UpkeepError(f"the collector refused an enrollment token ({r.status_code}: {r.text[:200]})")
    return admin, str(r.json()["token"])


def _last_word(output: str) -> str:
    """The secret a create command printed: its last line's last word, however it is introduced."""
    return output.splitlines()[-1].split()[-1]


def write_agent_config(demo: Demo) -> tuple[Path, str]:
    """agent.yaml for this machine: plain http to the demo collector, its own /metrics, three checks.

    The checks show each outcome: the collector's health URL and port are OK; the demo's "backup
    daemon" never runs, so its process check is CRITICAL and the shipped ProcessMissing rule fires
    (after its 2 minutes) and opens a ticket.
    """
    agent_dir = demo.data_dir / "agent"
    agent_dir.mkdir(exist_ok=True)
    metrics = f"127.0.0.1:{_free_port()}"
    port = int(demo.listen.rsplit(":", 1)[1])
    cfg = {
        "collector": {"url": demo.url, "allow_plaintext": True},
        "state_dir": str(agent_dir / "state"),
        "interval": AGENT_INTERVAL,
        "metrics": {"listen": metrics},
        "checks": [
            {"name": "collector-health", "kind": "http", "url": f"{demo.url}/healthz"},
            {"name": "collector-port", "kind": "tcp", "host": "127.0.0.1", "port": port},
            {"name": "demo-backup-daemon", "kind": "process", "name_pattern": "^upkeep-demo-backupd$"},
        ],
    }
    path = agent_dir / "agent.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path, f"http://{metrics}/metrics"


def start_agent(demo: Demo, enrollment_token: str) -> tuple[Child, str]:
    config, metrics_url = write_agent_config(demo)
    run_command(demo, [*_python("agent.cli"), "enroll", demo.url, enrollment_token, "--config", str(config)])
    child = demo.start("agent", [*_python("agent.cli"), "run", "--config", str(config)])
    wait_for(demo, metrics_url, lambda: httpx.get(metrics_url, timeout=2).status_code == 200, child)
    return child, metrics_url


def open_demo_ticket(demo: Demo, admin_token: str) -> None:
    """A manual ticket, as a customer's phone call would open it."""
    r = httpx.post(
        f"{demo.url}/api/v1/tickets",
        headers={"Authorization": f"Bearer {admin_token}"},
        json={
            "customer": AGENT_CUSTOMER,
            "title": "Demo: the ward printer queue is stuck",
            "description": "Opened by `upkeep demo` as a customer's phone call would be.",
            "urgency": "normal",
        },
        timeout=10,
    )
    if r.status_code >= 300:
        demo.notes.append(f"the manual demo ticket was not opened ({r.status_code}: {r.text[:200]})")


def banner(demo: Demo, admin_token: str, agent_metrics: str) -> str:
    d = str(demo.data_dir)
    cli = f"upkeep --config {d}/collector.yaml --data-dir {d}"
    lines = [
        "",
        "upkeep demo is running (Ctrl-C stops it).",
        "",
        f"  API            {demo.url}/api/v1/hosts   (Authorization: Bearer {admin_token})",
        f"  OpenAPI docs   {demo.url}/docs",
        f"  health         {demo.url}/healthz",
        f"  metrics        {demo.url}/metrics",
        f"  federation     {demo.url}/federate?match[]=up",
        f"  agent metrics  {agent_metrics}",
    ]
    if demo.console:
        lines.append(f"  web console    {demo.url}{demo.console}")
    lines += [
        "",
        f"  data           {d}  (SQLite; logs: collector.log, agent.log)",
        "",
        "Try:",
        f"  {cli} hosts list",
        f"  {cli} tickets list",
        f"  {cli} alerts list",
        f"  curl -H 'Authorization: Bearer {admin_token}' {demo.url}/api/v1/tickets",
        "",
        "The demo's backup daemon is missing on purpose: within about two minutes the shipped",
        "ProcessMissing rule fires and `tickets list` shows the ticket it opened.",
    ]
    lines += [f"note: {n}" for n in demo.notes]
    return "\n".join(lines) + "\n"


def find_console(demo: Demo) -> None:
    """The web console's path, if this build serves one (an HTML page at one of the usual places)."""
    for path in ("/console", "/ui", "/"):
        with contextlib.suppress(httpx.HTTPError):
            r = httpx.get(demo.url + path, timeout=5, follow_redirects=True)
            if r.status_code == 200 and r.headers.get("content-type", "").startswith("text/html"):
                demo.console = r.url.path
                return


def _stop_on_signals(stop: threading.Event) -> None:
    def handle(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def run(args: argparse.Namespace) -> int:
    given = args.demo_data_dir or args.data_dir
    data_dir = Path(given) if given else Path(tempfile.mkdtemp(prefix="upkeep-demo-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    demo = Demo(data_dir=data_dir.resolve(), listen=_choose_listen(args.listen))
    _stop_on_signals(demo.stop)
    try:
        write_site(demo)
        print(f"starting the collector on {demo.url} (data in {demo.data_dir}) ...", flush=True)
        server = start_collector(demo)
        admin_token, enrollment_token = create_tokens(demo)
        print("enrolling this machine's agent ...", flush=True)
        agent, agent_metrics = start_agent(demo, enrollment_token)
        open_demo_ticket(demo, admin_token)
        find_console(demo)
        print(banner(demo, admin_token, agent_metrics), flush=True)
        while not demo.stop.wait(0.5):
            for child in (server, agent):
                if not child.alive():
                    print(
                        f"upkeep demo: the {child.name} exited ({child.proc.returncode}):\n{child.tail()}",
                        file=sys.stderr,
                    )
                    return 1
        print("stopping the agent and the collector ...", flush=True)
        return 0
    except Interrupted:
        print("interrupted while starting; stopping ...", flush=True)
        return 0
    finally:
        demo.stop_all()
        if not given:
            shutil.rmtree(demo.data_dir, ignore_errors=True)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``upkeep demo``."""
    p = sub.add_parser(
        "demo",
        help="run the collector, the shipped rules and an enrolled agent on this machine",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    p.add_argument(
        "--listen",
        default=None,
        metavar="HOST:PORT",
        help=f"where the collector listens (default 127.0.0.1:{DEFAULT_PORT}, or a free port)",
    )
    # A separate destination: the global --data-dir's value must survive this subparser's default.
    p.add_argument(
        "--data-dir",
        dest="demo_data_dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep the demo's SQLite database and logs here (default: a temporary directory)",
    )
    p.set_defaults(func=run)

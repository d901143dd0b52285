"""A real `upkeep serve` in a subprocess, on 127.0.0.1 and a free port.

    with running_collector(tmp_path, config={"customers": [{"name": "acme"}]}) as c:
        admin = c.token("admin")
        httpx.get(f"{c.base_url}/api/v1/hosts", headers={"Authorization": f"Bearer {admin}"})
        c.kill()        # kill -9
        c.start()       # same data directory and config, waits for /readyz

The tokens are made the way an operator makes them: by running the `upkeep` command.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support import free_port

REPO = Path(__file__).resolve().parents[2]


def upkeep_command() -> list[str]:
    """The installed `upkeep` entry point of the virtualenv, else ``python -m collector.cli``."""
    exe = Path(sys.executable).parent / "upkeep"
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-m", "collector.cli"]


class Collector:
    """One collector process; ``base_url``, ``data_dir`` and ``config_path`` stay across restarts."""

    def __init__(
        self,
        root: Path,
        config: dict[str, Any] | None = None,
        *,
        port: int | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.data_dir = root / "data"
        self.port = port or free_port()
        cfg = dict(config or {})
        scheme = "https" if cfg.get("tls") else "http"
        self.base_url = f"{scheme}://127.0.0.1:{self.port}"
        self.verify = verify  # an SSL context trusting the certificate of a collector started with `tls`
        cfg.setdefault("listen", f"127.0.0.1:{self.port}")
        cfg.setdefault("data_dir", str(self.data_dir))
        self.config = cfg
        self.config_path = root / "collector.yaml"
        self.config_path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
        self.log_path = root / "collector.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._enrollment: dict[str, str] = {}  # reusable enrollment tokens by customer

    # -- process -------------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115  (handed to the child)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [*upkeep_command(), "--config", str(self.config_path), "serve", "--log-level", "warning"],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
            env=env,
        )
        log.close()
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.kill()
            raise

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"upkeep serve exited {self.process.returncode}: {self.log()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/readyz", timeout=2, verify=self.verify).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"upkeep serve not ready after {timeout}s: {self.log()[-3000:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        """kill -9: no shutdown code runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """SIGTERM and wait (a clean shutdown)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    # -- the command line ---------------------------------------------------------------------
    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `upkeep --config <this config> ARGS...`."""
        done = subprocess.run(
            [*upkeep_command(), "--config", str(self.config_path), *args],
            capture_output=True,
            text=True,
            cwd=self.root,
            timeout=120,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"upkeep {' '.join(args)} exited {done.returncode}: {done.stderr}")
        return done

    def token(self, role: str = "admin", customer: str | None = None, name: str | None = None) -> str:
        args = ["tokens", "create", "--role", role]
        if customer:
            args += ["--customer", customer]
        if name:
            args += ["--name", name]
        return self.cli(*args).stdout.strip()

    def enrollment_token(self, customer: str, *, expires: str = "24h", once: bool = False) -> str:
        args = ["enroll", "create", "--customer", customer, "--expires", expires]
        if once:
            args.append("--once")
        return self.cli(*args).stdout.strip()

    def enroll(self, customer: str, agent_id: str, hostname: str, **facts: Any) -> dict[str, Any]:
        """Enroll a simulated agent over HTTP; returns the answer (host_id, host, host_token...)."""
        token = self._enrollment.get(customer) or self.enrollment_token(customer)
        self._enrollment[customer] = token
        r = httpx.post(
            f"{self.base_url}/api/v1/enroll",
            json={"token": token, "agent_id": agent_id, "facts": {"hostname": hostname, **facts}},
            timeout=30,
        )
        assert r.status_code == 201, r.text
        return dict(r.json())

    def hosts_json(self) -> list[dict[str, Any]]:
        return list(json.loads(self.cli("hosts", "list", "--json").stdout))


@contextlib.contextmanager
def running_collector(root: Path, config: dict[str, Any] | None = None) -> Iterator[Collector]:
    """A started collector, stopped (or killed) at the end."""
    c = Collector(root, config)
    c.start()
    try:
        yield c
    finally:
        c.stop()
        if c.process is not None and c.process.poll() is None:
            c.kill()

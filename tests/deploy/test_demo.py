"""`upkeep demo` as a user runs it: it starts, every URL it prints answers 200, every command it
suggests works, and Ctrl-C (SIGINT) or SIGTERM stops the agent and the server with exit status 0."""

from __future__ import annotations

import re
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import free_port
from tests.support.prometheus import wait_until

UPKEEP = str(Path(sys.executable).parent / "upkeep")
BANNER_END = "ProcessMissing rule fires and `tickets list` shows the ticket it opened."


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "try_everything"),
    [(signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["Ctrl-C, after trying what it prints", "SIGTERM"],
)
def test_demo_serves_what_it_prints_and_stops_cleanly(
    tmp_path: Path, signum: int, try_everything: bool
) -> None:
    port = free_port()
    data = tmp_path / "demo"
    out = tmp_path / "demo.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [UPKEEP, "demo", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:

        def banner() -> str:
            if proc.poll() is not None:
                raise AssertionError(f"demo exited {proc.returncode}:\n{out.read_text()}")
            text = out.read_text()
            return text if BANNER_END in text else ""

        text = wait_until("the demo's banner", banner, timeout=120)
        if try_everything:
            assert "note:" not in text, text
            token = re.search(r"Bearer (\S+?)\)?$", text, re.MULTILINE)
            assert token, text
            headers = {"Authorization": f"Bearer {token.group(1).rstrip(')')}"}
            listing = text.split("upkeep demo is running", 1)[1].split("Try:", 1)[0]
            urls = re.findall(r"https?://\S+", listing)
            assert any(u.endswith("/docs") for u in urls)
            assert any(u.endswith("/metrics") for u in urls)
            for url in urls:
                r = httpx.get(url, headers=headers, timeout=10)
                assert r.status_code == 200, f"{url}: {r.status_code} {r.text[:200]}"
            host_seen = False
            for line in text.split("Try:", 1)[1].splitlines():
                if line.strip().startswith("upkeep --"):
                    argv = shlex.split(line.strip())
                    done = subprocess.run([UPKEEP, *argv[1:]], capture_output=True, text=True, timeout=120)
                    assert done.returncode == 0, f"{line.strip()}: {done.stderr}"
                    host_seen = host_seen or "demo-hospital" in done.stdout
            assert host_seen, "the enrolled agent's host is listed"
        agent_port = int(re.search(r"agent metrics\s+http://127\.0\.0\.1:(\d+)/", text).group(1))  # type: ignore[union-attr]
        proc.send_signal(signum)
        assert proc.wait(timeout=60) == 0, out.read_text()
        assert not port_open(port), "the collector stopped"
        assert not port_open(agent_port), "the agent stopped"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

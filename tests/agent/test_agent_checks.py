"""Each check kind against the real thing: a process, a listening socket, an HTTP server,
a Nagios-style plugin script and a log file that rotates."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.checks import CRITICAL, OK, UNKNOWN, WARNING, PerfValue, make_check
from agent.checks.command import parse_perfdata, parse_plugin_output
from agent.checks.runner import CheckRunner
from agent.config import CheckConfig, parse_config
from tests.support import free_port


def _check(spec: dict[str, Any], state_dir: Path | None = None) -> Any:
    cfg = parse_config({"interval": 30, "checks": [{"name": "c", **spec}]})
    return make_check(cfg.checks[0], state_dir), cfg.checks[0]


# -- process ----------------------------------------------------------------------------------


def test_process_check_counts_a_real_process() -> None:
    marker = f"upkeep-test-{os.getpid()}-{time.monotonic_ns()}"
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", marker])
    try:
        check, cfg = _check({"kind": "process", "cmdline_pattern": marker})
        status, output, perf = check.run(cfg.timeout)
        assert (status, perf[0].value) == (OK, 1.0), output
        check, cfg = _check({"kind": "process", "cmdline_pattern": marker, "min": 2})
        status, output, _ = check.run(cfg.timeout)
        assert status == CRITICAL
        assert "need at least 2" in output
    finally:
        proc.kill()
        proc.wait()
    check, cfg = _check({"kind": "process", "cmdline_pattern": marker})
    assert check.run(cfg.timeout)[0] == CRITICAL


def test_process_check_by_name_finds_this_interpreter() -> None:
    import psutil

    name = psutil.Process().name()
    check, cfg = _check({"kind": "process", "name_pattern": f"^{name}$"})
    status, _, perf = check.run(cfg.timeout)
    assert status == OK
    assert perf[0].value >= 1


# -- tcp ----------------------------------------------------------------------------------------


def test_tcp_check_against_a_listening_socket_and_a_closed_port() -> None:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        check, cfg = _check({"kind": "tcp", "port": port})
        status, output, perf = check.run(cfg.timeout)
        assert status == OK, output
        assert perf[0].label == "time"
    check, cfg = _check({"kind": "tcp", "port": free_port()})
    status, output, _ = check.run(cfg.timeout)
    assert status == CRITICAL
    assert "refused" in output.lower()


# -- http ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def web() -> Iterator[str]:
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if self.path == "/slow":
                release.wait(30)
            status, body, extra = {
                "/ok": (200, b"service healthy", {}),
                "/sick": (200, b"database unreachable", {}),
                "/gone": (404, b"not here", {}),
                "/moved": (301, b"", {"Location": "/ok"}),
                "/slow": (200, b"late", {}),
            }.get(self.path, (500, b"?", {}))
            self.send_response(status)
            for k, v in extra.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a client that gave up on /slow closes early; that is the point of the test

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    release.set()
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("path", "spec", "want", "words"), [
    ("/ok", {"body_pattern": "healthy"}, OK, "HTTP/200"),
    ("/sick", {"body_pattern": "healthy"}, CRITICAL, "body does not match"),
    ("/gone", {}, CRITICAL, "expected 200"),
    ("/gone", {"status": 404}, OK, "HTTP/404"),
    ("/moved", {"status": [301, 302]}, OK, "HTTP/301"),
])
def test_http_check(web: str, path: str, spec: dict[str, Any], want: int, words: str) -> None:
    check, cfg = _check({"kind": "http", "url": web + path, **spec})
    status, output, perf = check.run(cfg.timeout)
    assert status == want, output
    assert words in output
    assert perf[0].label == "time"
    assert perf[0].unit == "s"


def test_http_check_that_hangs_is_critical_within_its_timeout(web: str) -> None:
    check, _ = _check({"kind": "http", "url": web + "/slow", "timeout": 0.3})
    start = time.monotonic()
    status, output, _ = check.run(0.3)
    assert status == CRITICAL, output
    assert time.monotonic() - start < 10


def test_http_check_against_nothing_listening() -> None:
    check, cfg = _check({"kind": "http", "url": f"http://127.0.0.1:{free_port()}/"})
    assert check.run(cfg.timeout)[0] == CRITICAL


# -- command (Nagios plugins) -----------------------------------------------------------------

PLUGIN = """#!/bin/sh
echo "DISK WARNING - free space: / 3326 MB (56% inode=99%); | /=2643MB;5948;5958;0;5968 \\
'inode ratio'=12%;;;0;100"
echo "second line of long output"
echo "third | load1=0.5;1;2"
exit 1
"""


def _plugin(tmp_path: Path, body: str, name: str = "check_thing") -> str:
    p = tmp_path / name
    p.write_text(body)
    p.chmod(0o755)
    return str(p)


def test_command_check_runs_a_plugin_and_reads_its_perfdata(tmp_path: Path) -> None:
    check, cfg = _check({"kind": "command", "command": [_plugin(tmp_path, PLUGIN)]})
    status, output, perf = check.run(cfg.timeout)
    assert status == WARNING
    assert output == "DISK WARNING - free space: / 3326 MB (56% inode=99%);"
    assert perf == (PerfValue("/", 2643.0, "MB"), PerfValue("inode ratio", 12.0, "%"),
                    PerfValue("load1", 0.5))


@pytest.mark.parametrize(("code", "want"), [(0, OK), (2, CRITICAL), (3, UNKNOWN), (7, UNKNOWN)])
def test_command_exit_codes(tmp_path: Path, code: int, want: int) -> None:
    plugin = _plugin(tmp_path, f"#!/bin/sh\necho STATE\nexit {code}\n")
    check, cfg = _check({"kind": "command", "command": [plugin]})
    status, output, _ = check.run(cfg.timeout)
    assert status == want
    assert "STATE" in output


def test_command_arguments_are_never_given_to_a_shell(tmp_path: Path) -> None:
    plugin = _plugin(tmp_path, '#!/bin/sh\necho "OK - got [$1]"\n')
    check, cfg = _check({"kind": "command", "command": f"{plugin} '$(touch {tmp_path}/owned); x'"})
    status, output, _ = check.run(cfg.timeout)
    assert status == OK
    assert "$(touch" in output
    assert not (tmp_path / "owned").exists()


def test_a_hung_plugin_and_its_children_are_killed_at_the_timeout(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    plugin = _plugin(tmp_path, f"#!/bin/sh\nsleep 300 &\necho $! > {pidfile}\nwait\n")
    check, _ = _check({"kind": "command", "command": [plugin], "timeout": 0.5})
    start = time.monotonic()
    status, output, _ = check.run(0.5)
    assert status == UNKNOWN
    assert "timed out" in output
    assert time.monotonic() - start < 10
    child = int(pidfile.read_text())
    for _ in range(100):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the plugin's child survived the timeout")


def test_a_missing_plugin_is_unknown(tmp_path: Path) -> None:
    check, cfg = _check({"kind": "command", "command": [str(tmp_path / "nope")]})
    assert check.run(cfg.timeout)[0] == UNKNOWN


_LABELS = st.text(alphabet="abcXYZ_/ .-", min_size=1, max_size=12).filter(lambda s: s.strip())


@settings(deadline=None, max_examples=50)  # no deadline: a loaded CI machine is slow, not wrong
@given(st.lists(st.tuples(_LABELS,
                          st.floats(-1e9, 1e9, allow_nan=False).map(lambda f: round(f, 3)),
                          st.sampled_from(["", "s", "ms", "%", "B", "KB", "c"])), max_size=6))
def test_perfdata_round_trip(items: list[tuple[str, float, str]]) -> None:
    text = " ".join(f"'{label}'={value}{unit};1;2;0;100" for label, value, unit in items)
    assert parse_perfdata(text) == tuple(PerfValue(lbl, v, u) for lbl, v, u in items)


def test_plugin_output_without_perfdata() -> None:
    assert parse_plugin_output("PROCS OK: 3 processes\n") == ("PROCS OK: 3 processes", ())


# -- logfile ------------------------------------------------------------------------------------


def test_logfile_new_matching_lines_across_rotation_truncation_and_restart(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    state = tmp_path / "state"
    state.mkdir()
    log.write_text("ERROR from before the agent started\n")
    spec = {"kind": "logfile", "path": str(log), "pattern": "ERROR"}
    check, cfg = _check(spec, state)
    assert check.run(cfg.timeout)[0] == OK  # history is not news
    with log.open("a") as f:
        f.write("info fine\nERROR disk on fire\n")
    status, output, perf = check.run(cfg.timeout)
    assert status == CRITICAL
    assert "1 new lines" in output
    assert "disk on fire" in output
    assert check.run(cfg.timeout)[0] == OK  # reported once

    # Rename rotation; the writer still appends to the old file for a moment.
    with log.open("a") as old:
        old.write("ERROR a\n")
        log.rename(tmp_path / "app.log.1")
        old.write("ERROR b\n")
    log.write_text("ERROR c\ninfo\n")
    status, output, perf = check.run(cfg.timeout)
    assert status == CRITICAL
    assert PerfValue("matches", 3.0) in perf

    # copytruncate.
    log.write_text("")
    with log.open("a") as f:
        f.write("ERROR after truncate\n")
    status, output, _ = check.run(cfg.timeout)
    assert status == CRITICAL
    assert "after truncate" in output

    # A restart resumes where the last run stopped: nothing repeated, nothing skipped.
    with log.open("a") as f:
        f.write("ERROR while the agent was down\npartial line without newline")
    check.close()
    again, cfg = _check(spec, state)
    status, output, perf = again.run(cfg.timeout)
    assert status == CRITICAL
    assert PerfValue("matches", 1.0) in perf
    with log.open("a") as f:
        f.write(" ERROR completed\n")
    status, output, _ = again.run(cfg.timeout)
    assert "partial line without newline ERROR completed" in output
    again.close()


def test_logfile_status_and_missing_file(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    check, cfg = _check({"kind": "logfile", "path": str(log), "pattern": "oops", "status": "warning",
                         "from_start": True})
    assert check.run(cfg.timeout)[0] == UNKNOWN
    log.write_text("oops\n")
    assert check.run(cfg.timeout)[0] == WARNING
    check.close()


# -- the runner ---------------------------------------------------------------------------------


class _Stuck:
    """A check that ignores its timeout (a bug, a dead NFS mount): the runner must not wait for it."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def run(self, timeout: float) -> tuple[int, str, tuple[PerfValue, ...]]:
        self.calls += 1
        self.release.wait(60)
        return OK, "finally", ()


def test_a_hung_check_never_blocks_the_collection(tmp_path: Path) -> None:
    stuck = _Stuck()
    plugin = _plugin(tmp_path, "#!/bin/sh\necho 'OK - fine'\n")
    cfg = parse_config({"interval": 5, "checks": [{"name": "quick", "kind": "command", "command": [plugin]}]})
    runner = CheckRunner(cfg.checks, None, built=[(CheckConfig("stuck", "command", 0.2), stuck)])
    start = time.monotonic()
    first = {r.name: r for r in runner.run_all()}
    second = {r.name: r for r in runner.run_all()}
    assert time.monotonic() - start < 10
    assert first["quick"].status == OK
    assert first["stuck"].status == UNKNOWN
    assert "timed out" in first["stuck"].output
    assert second["stuck"].status == UNKNOWN
    assert "still hung" in second["stuck"].output
    assert stuck.calls == 1  # not started again while still stuck
    stuck.release.set()

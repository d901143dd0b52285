"""tcp: a TCP port accepts connections (connect time recorded as perfdata ``time``)."""

from __future__ import annotations

import socket
import time

from agent.checks import CRITICAL, OK, WARNING, PerfValue
from agent.config import as_duration, as_int, as_str

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from agent.config import CheckConfig, Section


def options(sec: Section) -> dict[str, Any]:
    return {
        "host": sec.get("host", "127.0.0.1", as_str),
        "port": sec.require("port", as_int(1, 65535)),
        "warning_latency": sec.get("warning_latency", None, as_duration(0, 3600)),
    }


class TcpCheck:
    def __init__(self, opts: dict[str, Any]) -> None:
        self._host = opts["host"]
        # An ASCII name goes to the resolver as bytes: a str would load the IDNA codec first.
        self._address = self._host.encode("ascii") if self._host.isascii() else self._host
        self._port = opts["port"]
        self._warn = opts["warning_latency"]

    def run(self, timeout: float) -> tuple[int, str, tuple[PerfValue, ...]]:
        where = f"{self._host}:{self._port}"
        start = time.perf_counter()
        try:
            with socket.create_connection((self._address, self._port), timeout=timeout):
                pass
        except TimeoutError:
            return CRITICAL, f"TCP CRITICAL - no answer from {where} within {timeout:g}s", ()
        except OSError as exc:
            return CRITICAL, f"TCP CRITICAL - {where}: {exc.strerror or exc}", ()
        took = time.perf_counter() - start
        perf = (PerfValue("time", took, "s"),)
        if self._warn is not None and took > self._warn:
            return WARNING, f"TCP WARNING - {took:.3f} second response time on {where}", perf
        return OK, f"TCP OK - {took:.3f} second response time on {where}", perf


def make(cfg: CheckConfig, state_dir: Path | None) -> TcpCheck:
    return TcpCheck(dict(cfg.options))

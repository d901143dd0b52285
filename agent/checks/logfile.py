"""logfile: new lines matching a pattern since the last run, across rotation and truncation.

The file stays open between runs, so lines written to it just before a rename-rotation are
still read from the old file before the new one is started. The read position (device,
inode, offset) is kept in the state directory so a restart neither repeats nor skips lines;
a brand-new check starts at the end of the file unless ``from_start`` is set.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import IO, Any

from agent.checks import CRITICAL, OK, UNKNOWN, WARNING, PerfValue
from agent.config import CheckConfig, Section, as_bool, as_path, as_regex, as_size
from agent.state import write_atomic

_TAIL = 64
_STATUS = {"warning": WARNING, "critical": CRITICAL, 1: WARNING, 2: CRITICAL}


def _status(v: Any) -> int:
    key = v.lower() if isinstance(v, str) else v
    if key not in _STATUS:
        raise ValueError("must be warning or critical")
    return _STATUS[key]


def options(sec: Section) -> dict[str, Any]:
    return {
        "path": sec.require("path", as_path),
        "pattern": sec.require("pattern", as_regex),
        "status": sec.get("status", CRITICAL, _status),
        "from_start": sec.get("from_start", False, as_bool),
        "max_bytes": sec.get("max_bytes", 16 * 2**20, as_size),
    }


class LogfileCheck:
    def __init__(self, name: str, opts: dict[str, Any], state_dir: Path | None) -> None:
        self._path = Path(opts["path"])
        self._pattern = re.compile(opts["pattern"])
        self._status = opts["status"]
        self._from_start = opts["from_start"]
        self._max_bytes = opts["max_bytes"]
        self._state_file = Path(state_dir, f"{name}.json") if state_dir else None
        self._fh: IO[bytes] | None = None
        self._pending = b""
        # The bytes just before our read position: if they change, the file was truncated and
        # rewritten (copytruncate) even when it has grown past our position again since.
        self._tail = b""

    def _saved(self) -> dict[str, int] | None:
        if self._state_file is None:
            return None
        try:
            return json.loads(self._state_file.read_text(encoding="ascii"))
        except (OSError, ValueError):
            return None

    def _save(self) -> None:
        if self._state_file is None or self._fh is None:
            return
        st = os.fstat(self._fh.fileno())
        pos = self._fh.tell() - len(self._pending)
        tail = self._tail[: len(self._tail) - len(self._pending)] if self._pending else self._tail
        data = json.dumps({"dev": st.st_dev, "inode": st.st_ino, "offset": pos, "tail": tail.hex()}).encode()
        write_atomic(self._state_file, data, 0o600, durable=False)  # a lost position only repeats lines

    def _open(self, first: bool) -> None:
        fh = open(self._path, "rb")  # noqa: SIM115 - kept open across runs on purpose
        st = os.fstat(fh.fileno())
        saved = self._saved() if first else None
        self._tail = b""
        if saved and saved.get("inode") == st.st_ino and saved.get("dev") == st.st_dev:
            fh.seek(min(int(saved.get("offset", 0)), st.st_size))
            self._tail = bytes.fromhex(saved.get("tail", ""))[-_TAIL:]
        elif first and saved is None and not self._from_start:
            fh.seek(0, os.SEEK_END)
        self._fh = fh
        self._pending = b""

    def _drain(self, budget: int) -> list[bytes]:
        assert self._fh is not None
        raw = self._fh.read(budget)
        self._tail = (self._tail + raw)[-_TAIL:]
        data = self._pending + raw
        lines = data.split(b"\n")
        self._pending = lines.pop()
        return lines

    def close(self) -> None:
        """Let go of the log file (the agent is stopping)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _truncated(self) -> bool:
        assert self._fh is not None
        pos = self._fh.tell()
        if os.fstat(self._fh.fileno()).st_size < pos:
            return True
        if not self._tail or pos < len(self._tail):
            return False
        return os.pread(self._fh.fileno(), len(self._tail), pos - len(self._tail)) != self._tail

    def run(self, timeout: float) -> tuple[int, str, tuple[PerfValue, ...]]:
        lines: list[bytes] = []
        try:
            if self._fh is None:
                self._open(first=True)
            elif self._truncated():
                # Truncated in place (copytruncate): everything now in the file is new.
                self._fh.seek(0)
                self._pending = self._tail = b""
            lines += self._drain(self._max_bytes)
            try:
                st = os.stat(self._path)
            except FileNotFoundError:
                st = None  # rotated away and not recreated yet: the old file was read to its end
            assert self._fh is not None
            cur = os.fstat(self._fh.fileno())
            if st is not None and (st.st_ino, st.st_dev) != (cur.st_ino, cur.st_dev):
                if self._pending:
                    lines.append(self._pending)
                self._fh.close()
                self._fh = None
                self._open(first=False)
                lines += self._drain(self._max_bytes)
            self._save()
        except OSError as exc:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
            return UNKNOWN, f"LOG UNKNOWN - {self._path}: {exc.strerror or exc}", ()
        matched = [ln for ln in lines if self._pattern.search(ln.decode("utf-8", "replace"))]
        perf = (PerfValue("lines", float(len(lines))), PerfValue("matches", float(len(matched))))
        if matched:
            word = "WARNING" if self._status == WARNING else "CRITICAL"
            last = matched[-1].decode("utf-8", "replace").strip()[:200]
            return (self._status, f"LOG {word} - {len(matched)} new lines match '{self._pattern.pattern}', "
                    f"last: {last}", perf)
        return OK, f"LOG OK - {len(lines)} new lines, none match '{self._pattern.pattern}'", perf


def make(cfg: CheckConfig, state_dir: Path | None) -> LogfileCheck:
    return LogfileCheck(cfg.name, dict(cfg.options), state_dir)

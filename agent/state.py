"""The state directory: agent id, host token, collector URL, sequence numbers and the spool.

Layout (the directory is 0700, secrets 0600)::

    agent_id        32 hex characters, generated once; a renamed host keeps its history
    token           the host token from enrollment (0600)
    collector_url   the URL given to ``upkeep-agent enroll`` (collector.url in the config wins)
    seq             the highest sequence number reserved so far
    spool/          reports not yet acknowledged (agent/spool.py)
    rejected/       reports the collector refused for good, kept for an operator
    logfile/        read positions of logfile checks
"""

from __future__ import annotations

import os
import re
import threading

from agent.errors import StateError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from os import PathLike

    StrPath = str | PathLike[str]

_AGENT_ID = re.compile(r"^[0-9a-f]{32}$")
# Sequence numbers are reserved in blocks so only one fsync per block is needed; a restart
# skips the rest of the block, which keeps seq strictly increasing without a write per report.
SEQ_BLOCK = 1000


def read_text(path: StrPath, encoding: str = "ascii") -> str:
    with open(path, encoding=encoding) as f:
        return f.read()


def remove(path: StrPath) -> None:
    """Delete a file; one already gone is fine."""
    try:  # noqa: SIM105 - contextlib is not otherwise loaded in the daemon
        os.unlink(path)
    except FileNotFoundError:
        pass


def write_atomic(path: StrPath, data: bytes, mode: int = 0o600, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so a crash leaves the old or the new content, never a mix.

    ``durable=False`` skips the fsyncs: after a power cut the file may hold the previous
    content, which is fine for state that only ever moves forward safely (the spool cursor:
    an old cursor resends acknowledged reports, which the collector stores once).
    """
    parent, name = os.path.split(os.fspath(path))
    tmp = os.path.join(parent, f".{name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if not durable:
        return
    dfd = os.open(parent or ".", os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class AgentState:
    """The agent's persistent identity and secrets in ``root``, created 0700 on first use."""

    def __init__(self, root: StrPath) -> None:
        self.root = os.fspath(root)
        self._lock = threading.Lock()
        self._seq_next = 0
        self._seq_ceiling = 0
        try:
            os.makedirs(self.root, mode=0o700, exist_ok=True)
            os.chmod(self.root, 0o700)
        except OSError as exc:
            raise StateError(self.root, f"cannot create the state directory: {exc.strerror}") from None

    def _file(self, name: str) -> str:
        return os.path.join(self.root, name)

    def subdir(self, name: str) -> str:
        d = self._file(name)
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            if not os.path.isdir(d):
                raise
        return d

    @property
    def agent_id(self) -> str:
        """This installation's id, created on first call and never changed afterwards."""
        path = self._file("agent_id")
        try:
            text = read_text(path).strip()
        except FileNotFoundError:
            text = ""
        except OSError as exc:
            raise StateError(str(path), f"cannot read: {exc.strerror}") from None
        if _AGENT_ID.match(text):
            return text
        if text:
            raise StateError(str(path), "does not hold a 32-hex-character agent id")
        new = os.urandom(16).hex()  # what secrets.token_hex(16) does
        write_atomic(path, new.encode() + b"\n", 0o644)
        return new

    @property
    def token(self) -> str | None:
        try:
            return read_text(self._file("token")).strip() or None
        except FileNotFoundError:
            return None

    @property
    def collector_url(self) -> str | None:
        try:
            return read_text(self._file("collector_url")).strip() or None
        except FileNotFoundError:
            return None

    def save_enrollment(self, collector_url: str, token: str) -> None:
        write_atomic(self._file("token"), token.encode() + b"\n", 0o600)
        write_atomic(self._file("collector_url"), collector_url.encode() + b"\n", 0o600)

    def next_seq(self) -> int:
        """A sequence number larger than every one handed out before, across restarts."""
        with self._lock:
            if self._seq_next == 0:
                path = self._file("seq")
                try:
                    self._seq_ceiling = int(read_text(path).strip() or 0)
                except FileNotFoundError:
                    self._seq_ceiling = 0
                except (OSError, ValueError) as exc:
                    raise StateError(str(path), f"unreadable sequence number: {exc}") from None
                self._seq_next = self._seq_ceiling + 1
            if self._seq_next > self._seq_ceiling:
                self._seq_ceiling = self._seq_next + SEQ_BLOCK - 1
                write_atomic(self._file("seq"), f"{self._seq_ceiling}\n".encode(), 0o600)
            seq = self._seq_next
            self._seq_next += 1
            return seq

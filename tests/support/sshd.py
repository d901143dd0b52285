"""Real OpenSSH servers for the remote-diagnosis tests and the benchmark.

Each server is Debian's /usr/sbin/sshd on 127.0.0.1 and a free port, with its own host key
and configuration in a temporary directory, logging VERBOSE to a file the tests read to
prove what did (and did not) happen on the server: ``Accepted publickey`` is an
authentication, ``session opened``/``Starting session`` a command.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from tests.support import free_port, require_binary

SFTP_SERVER = "/usr/lib/openssh/sftp-server"


def generate_key(path: Path, kind: str = "ed25519", passphrase: str = "") -> paramiko.PKey:
    """A new key pair at ``path`` (and ``path``.pub), made by ssh-keygen."""
    keygen = require_binary("ssh-keygen", "/usr/bin/ssh-keygen")
    path.parent.mkdir(parents=True, exist_ok=True)
    for p in (path, path.with_name(path.name + ".pub")):
        p.unlink(missing_ok=True)
    subprocess.run([keygen, "-q", "-t", kind, "-N", passphrase, "-C", "upkeep-test", "-f", str(path)],
                   check=True, capture_output=True)
    return paramiko.PKey.from_path(path, password=passphrase.encode() if passphrase else None)  # type: ignore[arg-type]


def public_line(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()}"


@dataclass
class SshServer:
    """One running sshd: its port, host key, log and the files it was started with."""

    port: int
    host_key: paramiko.PKey
    host_key_path: Path
    config_path: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def authenticated(self) -> bool:
        return "Accepted publickey" in self.log()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class SshLab:
    """A set of sshd processes standing for several hosts, and the client key they accept."""

    def __init__(self, root: Path) -> None:
        self.sshd = require_binary("sshd", "/usr/sbin/sshd")
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        # sshd refuses to start without its privilege-separation directory.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.client_key_path = root / "client_key"
        self.client_key = generate_key(self.client_key_path)
        self.authorized_keys = root / "authorized_keys"
        self.authorized_keys.write_text(public_line(self.client_key) + "\n", encoding="utf-8")
        self.servers: list[SshServer] = []
        self.user = os.environ.get("USER") or "root"
        self._shared_host_key: tuple[Path, paramiko.PKey] | None = None
        # bash sources ~/.bashrc for commands sent over ssh; the machine's own dotfiles (pyenv
        # init, say) must not slow down or change what the tests measure, so HOME is a clean one.
        self.home = root / "home"
        self.home.mkdir(exist_ok=True)

    def start(self, *, host_key: tuple[Path, paramiko.PKey] | None = None, port: int | None = None,
              extra: str = "") -> SshServer:
        """Start one more server (its own ed25519 host key unless one is given) and wait until it listens."""
        n = len(self.servers)
        folder = self.root / f"sshd{n}"
        folder.mkdir(exist_ok=True)
        if host_key is None:
            key_path = folder / "ssh_host_ed25519_key"
            host_key = (key_path, generate_key(key_path))
        port = port or free_port()
        config = folder / "sshd_config"
        log = folder / "sshd.log"
        config.write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key[0]}\n"
            f"AuthorizedKeysFile {self.authorized_keys}\nPidFile {folder / 'sshd.pid'}\n"
            "StrictModes no\nPermitRootLogin prohibit-password\nUsePAM no\nLogLevel VERBOSE\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nAllowTcpForwarding yes\n"
            f"MaxStartups 200\nMaxSessions 50\nSubsystem sftp {SFTP_SERVER}\n"
            f"SetEnv HOME={self.home}\n{extra}",
            encoding="utf-8",
        )
        with open(folder / "stderr", "wb") as stderr:
            proc = subprocess.Popen([self.sshd, "-D", "-E", str(log), "-f", str(config)],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
        server = SshServer(port, host_key[1], host_key[0], config, log, proc)
        self.servers.append(server)
        _wait_listening(port, proc, folder / "stderr")
        return server

    def shared_host_key(self) -> tuple[Path, paramiko.PKey]:
        """One host key for many servers (the benchmark starts dozens)."""
        if self._shared_host_key is None:
            path = self.root / "shared_host_key"
            self._shared_host_key = (path, generate_key(path))
        return self._shared_host_key

    def stop(self) -> None:
        for s in self.servers:
            s.stop()


def _wait_listening(port: int, proc: subprocess.Popen[bytes], stderr: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = stderr.read_text(errors="replace")
            raise RuntimeError(f"sshd exited with {proc.returncode}: {err.strip()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.02)
    raise RuntimeError(f"sshd did not listen on port {port} within {timeout:g}s")


@contextlib.contextmanager
def ssh_lab(root: Path) -> Iterator[SshLab]:
    lab = SshLab(root)
    try:
        yield lab
    finally:
        lab.stop()

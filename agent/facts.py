"""Host facts sent with every report, including the SSH host keys the collector will trust."""

from __future__ import annotations

import base64
import os
import platform
import socket

from agent.procfs import boot_time, mem_total
from agent.state import read_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from agent.state import StrPath

_KEY_TYPES = ("ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-")


def _sha256(data: bytes) -> bytes:
    # The interpreter's own SHA-256 (_sha2 from 3.12, _sha256 before): hashlib would set up
    # OpenSSL's digests, over half a megabyte of the agent's memory, for this one hash.
    try:
        from _sha2 import sha256  # type: ignore[import-not-found]
    except ImportError:
        try:
            from _sha256 import sha256  # type: ignore[import-not-found,no-redef]
        except ImportError:
            from hashlib import sha256
    return sha256(data).digest()


def ssh_fingerprint(key_b64: str) -> str:
    """OpenSSH's SHA256 fingerprint of a base64 public-key blob (``SHA256:`` + unpadded base64)."""
    digest = _sha256(base64.b64decode(key_b64, validate=True))
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def ssh_host_keys(directory: StrPath) -> list[dict[str, str]]:
    """Every ``ssh_host_*_key.pub`` in ``directory``: type, base64 key and fingerprint, sorted by type.

    An unreadable or malformed file is skipped: a key we cannot vouch for is not offered.
    """
    keys: list[dict[str, str]] = []
    try:
        files = sorted(n for n in os.listdir(directory)  # ssh_host_*_key.pub
                       if n.startswith("ssh_host_") and n.endswith("_key.pub"))
    except OSError:
        return keys
    for name in files:
        try:
            parts = read_text(os.path.join(directory, name)).split()
        except (OSError, UnicodeDecodeError):
            continue
        if len(parts) < 2 or not parts[0].startswith(_KEY_TYPES):
            continue
        try:
            fp = ssh_fingerprint(parts[1])
        except ValueError:
            continue
        keys.append({"type": parts[0], "key": parts[1], "fingerprint": fp})
    keys.sort(key=lambda k: k["type"])
    return keys


def _os_release() -> str:
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            text = read_text(path, "utf-8")
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.partition("=")[2].strip().strip('"')
    return f"{platform.system()} {platform.release()}"


def host_facts(ssh_dir: StrPath) -> dict[str, Any]:
    """The report's ``facts`` object (docs/report-format.md)."""
    return {
        "hostname": socket.gethostname(),
        "os": platform.system(),
        "os_release": _os_release(),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "cpu_count": os.cpu_count() or 1,
        "memory_bytes": mem_total(),
        "boot_time": boot_time(),
        "python": platform.python_version(),
        "ssh_host_keys": ssh_host_keys(ssh_dir),
    }

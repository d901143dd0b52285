"""The collector's own known-hosts store, and the host-key check every connection passes.

The store is a file in OpenSSH's known_hosts format in the data directory, so an engineer
can read it with ssh-keygen -F and copy lines from ~/.ssh/known_hosts. A host's key is
trusted when it is recorded there or when the host's agent reported it in its facts over
its own authenticated channel. The check runs right after key exchange, before any
authentication and before any channel is opened: a host whose key is not verified is sent
nothing but the key exchange itself.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from pathlib import Path

import paramiko

from collector.errors import HostKeyError
from collector.remote.targets import Endpoint

# Host-key algorithms to offer for a key type the collector already knows for a host, so the
# server presents that key rather than another type we would have to call unknown.
_ALGORITHMS = {
    "ssh-ed25519": ("ssh-ed25519",),
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"),
    "ecdsa-sha2-nistp256": ("ecdsa-sha2-nistp256",),
    "ecdsa-sha2-nistp384": ("ecdsa-sha2-nistp384",),
    "ecdsa-sha2-nistp521": ("ecdsa-sha2-nistp521",),
}


def fingerprint(key: paramiko.PKey) -> str:
    """The key's fingerprint as OpenSSH prints it (SHA256:base64, no padding)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def identity(address: str, port: int) -> str:
    """The host pattern OpenSSH writes for an address and port."""
    return address if port == 22 else f"[{address}]:{port}"


class KnownHosts:
    """Host keys recorded by engineers, in OpenSSH known_hosts format (hashed entries read too)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._loaded: tuple[float, paramiko.HostKeys] | None = None

    def _keys(self) -> paramiko.HostKeys:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return paramiko.HostKeys()
        with self._lock:
            if self._loaded is None or self._loaded[0] != mtime:
                keys = paramiko.HostKeys()
                keys.load(str(self.path))
                self._loaded = (mtime, keys)
            return self._loaded[1]

    def keys_for(self, address: str, port: int) -> list[paramiko.PKey]:
        """The keys recorded for this address and port (one per key type)."""
        entry = self._keys().lookup(identity(address, port))
        return list(entry.values()) if entry else []

    def add(self, address: str, port: int, key: paramiko.PKey) -> None:
        """Record ``key`` for the address, replacing a recorded key of the same type."""
        pattern = identity(address, port)
        with self._lock:
            lines: list[str] = []
            if self.path.exists():
                for line in self.path.read_text(encoding="utf-8").splitlines():
                    fields = line.split()
                    same = (len(fields) >= 3 and not line.startswith("#")
                            and pattern in fields[0].split(",") and fields[1] == key.get_name())
                    if not same:
                        lines.append(line)
            lines.append(f"{pattern} {key.get_name()} {key.get_base64()}")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
            self._loaded = None


class UnknownHostKey(HostKeyError):
    """No key is trusted for this host yet: an engineer must check and trust it."""


class ChangedHostKey(HostKeyError):
    """The host presented a key other than the trusted ones: possibly a man-in-the-middle."""


def _agent_keys(endpoint: Endpoint) -> list[paramiko.PKey]:
    keys: list[paramiko.PKey] = []
    for k in endpoint.trusted_keys:
        try:
            keys.append(paramiko.PKey.from_type_string(k.type, base64.b64decode(k.key)))
        except (paramiko.SSHException, ValueError):
            continue  # an agent key we cannot read trusts nothing
    return keys


class HostKeyCheck:
    """Decides whether a server's key may be talked to, for one endpoint."""

    def __init__(self, known_hosts: KnownHosts) -> None:
        self.known_hosts = known_hosts

    def trusted(self, endpoint: Endpoint) -> list[paramiko.PKey]:
        return _agent_keys(endpoint) + self.known_hosts.keys_for(endpoint.address, endpoint.port)

    def preferred_algorithms(self, endpoint: Endpoint, offered: tuple[str, ...]) -> tuple[str, ...]:
        """``offered`` reordered so the types trusted for this endpoint come first."""
        first: list[str] = []
        for key in self.trusted(endpoint):
            first.extend(a for a in _ALGORITHMS.get(key.get_name(), (key.get_name(),)) if a in offered)
        return tuple(dict.fromkeys([*first, *offered]))

    def verify(self, endpoint: Endpoint, key: paramiko.PKey, *, host: str = "") -> None:
        """Return when ``key`` is trusted for ``endpoint``; raise HostKeyError otherwise."""
        trusted = self.trusted(endpoint)
        if any(k.get_name() == key.get_name() and k.asbytes() == key.asbytes() for k in trusted):
            return
        fp = fingerprint(key)
        who = host or endpoint.name
        if not trusted:
            raise UnknownHostKey(
                f"unknown host key {key.get_name()} {fp} for {endpoint.name}; refused. Check it with the "
                f"host's owner, then run: upkeep hosts trust {who}",
                host=who, fingerprint=fp,
            )
        recorded = ", ".join(f"{k.get_name()} {fingerprint(k)}" for k in trusted)
        raise ChangedHostKey(
            f"HOST KEY CHANGED for {endpoint.name}: presented {key.get_name()} {fp}, trusted {recorded}. "
            f"This may be a man-in-the-middle attack; nothing was sent. If the host was reinstalled, "
            f"verify the new key and run: upkeep hosts trust {who}",
            host=who, fingerprint=fp,
        )

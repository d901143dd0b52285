"""Where and as whom to connect: an endpoint per hop, a target per host, and the key ring."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from collector.errors import RemoteError


@dataclass(frozen=True)
class TrustedKey:
    """A host key the collector trusts for a host (from the agent's facts)."""

    type: str
    key: str  # base64 of the public key blob, as in known_hosts


@dataclass(frozen=True)
class Endpoint:
    """One SSH server to reach: the target host or a bastion in front of it."""

    address: str
    port: int = 22
    user: str = "root"
    key_file: Path | None = None
    passphrase_file: Path | None = None
    passphrase_env: str | None = None
    # Keys reported by the host's own agent over its authenticated channel.
    trusted_keys: tuple[TrustedKey, ...] = ()
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or (self.address if self.port == 22 else f"{self.address}:{self.port}")


@dataclass(frozen=True)
class Target:
    """A host to run a playbook on, and the chain of bastions in front of it (outermost first)."""

    host: str
    endpoint: Endpoint
    customer: str = ""
    jumps: tuple[Endpoint, ...] = ()


@dataclass
class KeyRing:
    """Private keys loaded once per file (decrypting a key is slow; fifty hosts share one)."""

    default_key: Path | None = None
    _keys: dict[tuple[Path, Path | None, str | None], paramiko.PKey] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def key_for(self, endpoint: Endpoint) -> paramiko.PKey:
        path = endpoint.key_file or self.default_key
        if path is None:
            raise RemoteError("no SSH key configured (remote.key_file or a per-host key_file)",
                              host=endpoint.name)
        # Keyed by the passphrase source too: the same file without one must still fail.
        slot = (path, endpoint.passphrase_file, endpoint.passphrase_env)
        with self._lock:
            cached = self._keys.get(slot)
            if cached is None:
                cached = self._load(path, endpoint)
                self._keys[slot] = cached
            return cached

    @staticmethod
    def _load(path: Path, endpoint: Endpoint) -> paramiko.PKey:
        passphrase: str | None = None
        if endpoint.passphrase_file is not None:
            try:
                passphrase = endpoint.passphrase_file.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise RemoteError(f"cannot read passphrase file {endpoint.passphrase_file}: {exc.strerror}",
                                  host=endpoint.name) from None
        elif endpoint.passphrase_env:
            passphrase = os.environ.get(endpoint.passphrase_env)
            if passphrase is None:
                raise RemoteError(f"environment variable {endpoint.passphrase_env} (the key's passphrase) "
                                  "is not set", host=endpoint.name)
        try:
            return paramiko.PKey.from_path(path, password=passphrase.encode() if passphrase else None)  # type: ignore[arg-type]
        except FileNotFoundError:
            raise RemoteError(f"SSH key {path} does not exist", host=endpoint.name) from None
        # cryptography says "password was not provided" with a TypeError for new-format keys.
        except (paramiko.PasswordRequiredException, TypeError):
            raise RemoteError(f"SSH key {path} needs a passphrase (passphrase_file or passphrase_env)",
                              host=endpoint.name) from None
        except (paramiko.SSHException, ValueError, OSError) as exc:
            raise RemoteError(f"cannot load SSH key {path}: {exc}", host=endpoint.name) from None

"""One SSH connection per host, reached directly or through a chain of bastions.

Each hop is a paramiko Transport started by hand so the host key is checked right after
key exchange and before authentication; a failed check closes the socket having sent
nothing but the key exchange. The next hop's Transport runs over a direct-tcpip channel
of the previous one (ProxyJump). All the steps of a run share the final Transport, each
step in its own exec channel, so a run pays for the handshake once.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

import paramiko

from collector.core.playbook.execution import sudo_wrap
from collector.core.playbook.model import CommandResult
from collector.errors import RemoteError
from collector.remote.known_hosts import HostKeyCheck
from collector.remote.targets import Endpoint, KeyRing, Target

# Fast, modern key exchange and host keys first; paramiko keeps the rest as fall-backs.
_KEX_FIRST = ("curve25519-sha256@libssh.org", "ecdh-sha2-nistp256")
_KEYS_FIRST = ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256")
_READ = 32768


class ConnectFailure(RemoteError):
    """A host that could not be reached or logged into; ``kind`` names the reason for reports."""

    def __init__(self, message: str, *, host: str, kind: str, retryable: bool = False) -> None:
        self.kind = kind
        super().__init__(message, host=host, retryable=retryable)


@dataclass(frozen=True)
class Timeouts:
    connect: float = 10.0
    command: float = 60.0


def _cut_marker(kept: int, total: int) -> str:
    return f"\n[... output cut at {kept} bytes; {total - kept} more bytes dropped ...]\n"


def bound_output(data: bytes, total: int, cap: int) -> tuple[str, bool]:
    """Decoded output kept under ``cap`` bytes, with a marker saying how much was cut."""
    text = data[:cap].decode("utf-8", errors="replace")
    if total > cap:
        return text + _cut_marker(cap, total), True
    return text, False


def _prefer(current: tuple[str, ...], first: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*(a for a in first if a in current), *current]))


class Connection:
    """An authenticated SSH connection to one target; a StepRunner for the playbook core."""

    def __init__(self, transports: list[paramiko.Transport], *, host: str, output_cap: int) -> None:
        self._transports = transports
        self.host = host
        self.output_cap = output_cap
        self._sftp: paramiko.SFTPClient | None = None

    @property
    def transport(self) -> paramiko.Transport:
        return self._transports[-1]

    def run(self, command: str, *, timeout: float, sudo: bool) -> CommandResult:
        """Run the command in a new exec channel; stdout and stderr together, bounded."""
        if sudo:
            command = sudo_wrap(command)
        started = time.monotonic()
        deadline = started + timeout
        try:
            chan = self.transport.open_session(timeout=timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            return CommandResult(None, "", time.monotonic() - started, error=f"cannot open a session: {exc}")
        kept = bytearray()
        total = 0
        try:
            chan.set_combine_stderr(True)
            chan.exec_command(command)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                chan.settimeout(remaining)
                data = chan.recv(_READ)
                if not data:
                    break
                total += len(data)
                # Keep reading past the cap (the command would block on a full pipe) but keep nothing.
                if len(kept) < self.output_cap:
                    kept.extend(data[: self.output_cap - len(kept) + 1])
            if not chan.status_event.wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError
            output, cut = bound_output(bytes(kept), total, self.output_cap)
            return CommandResult(chan.recv_exit_status(), output, time.monotonic() - started, truncated=cut)
        except TimeoutError:
            output, cut = bound_output(bytes(kept), total, self.output_cap)
            return CommandResult(None, output, time.monotonic() - started, truncated=cut, timed_out=True)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            return CommandResult(None, "", time.monotonic() - started, error=f"connection lost: {exc}")
        finally:
            chan.close()

    def fetch(self, path: str, *, max_bytes: int, timeout: float) -> CommandResult:
        """Read the file over SFTP: at most ``max_bytes`` (and never more than the output cap)."""
        started = time.monotonic()
        cap = min(max_bytes, self.output_cap)
        try:
            if self._sftp is None:
                self._sftp = paramiko.SFTPClient.from_transport(self.transport)
                if self._sftp is None:
                    raise paramiko.SSHException("the server refused the sftp subsystem")
            self._sftp.get_channel().settimeout(timeout)
            size = self._sftp.stat(path).st_size or 0
            with self._sftp.open(path, "rb") as f:
                data = f.read(cap + 1)
            total = max(size, len(data))
            output, cut = bound_output(data, total, cap)
            return CommandResult(0, output, time.monotonic() - started, truncated=cut)
        except FileNotFoundError:
            return CommandResult(2, f"{path}: no such file", time.monotonic() - started)
        except PermissionError:
            return CommandResult(1, f"{path}: permission denied", time.monotonic() - started)
        except TimeoutError:
            return CommandResult(None, "", time.monotonic() - started, timed_out=True)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            return CommandResult(None, "", time.monotonic() - started, error=f"sftp failed: {exc}")

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
        for t in reversed(self._transports):
            t.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _start(sock: socket.socket | paramiko.Channel, endpoint: Endpoint, check: HostKeyCheck,
           timeout: float, host: str) -> paramiko.Transport:
    """A Transport over ``sock`` whose server key has been verified (not yet authenticated)."""
    transport = paramiko.Transport(sock)
    try:
        opts = transport.get_security_options()
        opts.kex = _prefer(tuple(opts.kex), _KEX_FIRST)
        opts.key_types = check.preferred_algorithms(endpoint, _prefer(tuple(opts.key_types), _KEYS_FIRST))
        transport.banner_timeout = timeout
        transport.handshake_timeout = timeout
        transport.auth_timeout = timeout
        transport.start_client(timeout=timeout)
        check.verify(endpoint, transport.get_remote_server_key(), host=host)
    except BaseException:
        transport.close()
        raise
    return transport


def scan_host_key(target: Target, *, check: HostKeyCheck, keys: KeyRing, timeouts: Timeouts) -> paramiko.PKey:
    """The target's host key after key exchange, without authenticating or opening a channel on it.

    Bastions in front of it are connected to as usual (their keys verified, logged into).
    """
    if target.jumps:
        via = Target(target.host, target.jumps[-1], target.customer, target.jumps[:-1])
        with connect(via, check=check, keys=keys, timeouts=timeouts) as bastion:
            return _scan(target.endpoint, timeouts.connect, bastion.transport, target.host)
    return _scan(target.endpoint, timeouts.connect, None, target.host)


def _scan(endpoint: Endpoint, timeout: float, over: paramiko.Transport | None, host: str) -> paramiko.PKey:
    sock = _open_socket(endpoint, timeout, over, host)
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=timeout)
        return transport.get_remote_server_key()
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise ConnectFailure(f"key exchange with {endpoint.name} failed: {exc}", host=host,
                             kind="unreachable", retryable=True) from None
    finally:
        transport.close()


def _open_socket(endpoint: Endpoint, timeout: float, over: paramiko.Transport | None,
                 host: str) -> socket.socket | paramiko.Channel:
    try:
        if over is None:
            sock = socket.create_connection((endpoint.address, endpoint.port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        return over.open_channel("direct-tcpip", (endpoint.address, endpoint.port), ("127.0.0.1", 0),
                                 timeout=timeout)
    except TimeoutError:
        raise ConnectFailure(f"{endpoint.name} did not answer within {timeout:g}s", host=host,
                             kind="unreachable", retryable=True) from None
    except paramiko.ChannelException as exc:
        raise ConnectFailure(f"the bastion could not reach {endpoint.name}: {exc.text}", host=host,
                             kind="unreachable", retryable=True) from None
    except (OSError, paramiko.SSHException) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConnectFailure(f"cannot reach {endpoint.name}: {reason}", host=host, kind="unreachable",
                             retryable=True) from None


def connect(target: Target, *, check: HostKeyCheck, keys: KeyRing, timeouts: Timeouts,
            output_cap: int = 65536) -> Connection:
    """An authenticated connection to ``target`` through its bastions; RemoteError says why not."""
    transports: list[paramiko.Transport] = []
    try:
        for endpoint in (*target.jumps, target.endpoint):
            sock = _open_socket(endpoint, timeouts.connect, transports[-1] if transports else None,
                                target.host)
            try:
                transport = _start(sock, endpoint, check, timeouts.connect, target.host)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                sock.close()
                why = str(exc) or type(exc).__name__
                raise ConnectFailure(f"SSH handshake with {endpoint.name} failed: {why}",
                                     host=target.host, kind="unreachable", retryable=True) from None
            transports.append(transport)
            key = keys.key_for(endpoint)
            try:
                transport.auth_publickey(endpoint.user, key)
            except paramiko.AuthenticationException:
                raise ConnectFailure(f"{endpoint.name} refused key authentication for user {endpoint.user}",
                                     host=target.host, kind="auth-failed") from None
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise ConnectFailure(f"authentication with {endpoint.name} failed: {exc}", host=target.host,
                                     kind="auth-failed", retryable=True) from None
        return Connection(transports, host=target.host, output_cap=output_cap)
    except BaseException:
        for t in reversed(transports):
            t.close()
        raise

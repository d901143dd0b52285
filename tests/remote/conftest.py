from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.remote.connection import Timeouts
from collector.remote.fanout import Fleet
from collector.remote.known_hosts import HostKeyCheck, KnownHosts
from collector.remote.targets import Endpoint, KeyRing, Target, TrustedKey
from tests.support.sshd import SshLab, SshServer


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshLab]:
    """Four real sshd processes standing for four hosts (the first two double as bastions)."""
    lab = SshLab(tmp_path_factory.mktemp("sshlab"))
    try:
        for _ in range(4):
            lab.start()
        yield lab
    finally:
        lab.stop()


def trusted(server: SshServer) -> tuple[TrustedKey, ...]:
    """The host key as its agent would report it in its facts."""
    return (TrustedKey(server.host_key.get_name(), server.host_key.get_base64()),)


def target(server: SshServer, name: str = "", *, trust: bool = True, **endpoint: object) -> Target:
    ep = Endpoint("127.0.0.1", server.port, "root", trusted_keys=trusted(server) if trust else (),
                  label=name or f"host-{server.port}", **endpoint)  # type: ignore[arg-type]
    return Target(host=ep.label, endpoint=ep, customer="acme")


@pytest.fixture
def fleet(lab: SshLab, tmp_path: Path) -> Fleet:
    return Fleet(check=HostKeyCheck(KnownHosts(tmp_path / "known_hosts")), keys=KeyRing(lab.client_key_path),
                 timeouts=Timeouts(connect=10, command=30))

"""Pushing to a real HTTP server on 127.0.0.1: delivery, outages, 5xx, 429, 4xx and batches.

Time is an input: the shipper's clock is a counter the test moves, and ``step`` sends at
most one request, so no test waits for a backoff to pass.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.config import CollectorConfig
from agent.errors import ConfigError
from agent.report import build_report, encode_report
from agent.shipper import BACKOFF_CAP, Shipper, backoff_delay, retry_after_seconds
from agent.spool import Spool
from agent.transport import CollectorEndpoint, tls_context
from tests.agent.collector_double import Answer, CollectorDouble, make_pki
from tests.support import free_port, require_binary

AGENT = "ab" * 16


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def double() -> Iterator[CollectorDouble]:
    d = CollectorDouble().start()
    yield d
    d.stop()


def _shipper(tmp_path: Path, url: str, clock: Clock, spool: Spool | None = None) -> Shipper:
    cfg = CollectorConfig(url=url, allow_plaintext=True, timeout=5)
    sp = spool or Spool(tmp_path / "spool", 10**9, 10**9)
    return Shipper(sp, CollectorEndpoint(url, cfg), lambda: "host-token", tmp_path / "rejected",
                   batch_max_reports=10, clock=clock, rand=lambda: 1.0)


def _add(sh: Shipper, seqs: range) -> None:
    for s in seqs:
        report = build_report(agent_id=AGENT, seq=s, ts=1.7e9 + s, interval=15.0, facts={}, samples=[],
                              checks=[])
        sh.spool.append(s, 1.7e9 + s, encode_report(report))


def _drain(sh: Shipper, clock: Clock, limit: int = 100) -> None:
    for _ in range(limit):
        delay = sh.step()
        if delay is None:
            return
        clock.now += delay
    raise AssertionError("the spool did not drain")


def test_normal_delivery_one_report_per_request(tmp_path: Path, double: CollectorDouble) -> None:
    clock = Clock()
    sh = _shipper(tmp_path, double.url, clock)
    for s in range(1, 4):
        _add(sh, range(s, s + 1))
        assert sh.step() == 0.0
        assert sh.step() is None
    assert double.seqs() == [1, 2, 3]
    assert [n for _, n in double.requests] == [1, 1, 1]
    assert all(path == "/api/v1/reports" for path, _ in double.requests)
    assert sh.spool.reports == 0
    sh.spool.close()


def test_collector_down_then_back_every_report_once_in_order(tmp_path: Path) -> None:
    port = free_port()
    clock = Clock()
    sh = _shipper(tmp_path, f"http://127.0.0.1:{port}", clock)
    delays = []
    for s in range(1, 31):
        _add(sh, range(s, s + 1))
        clock.now += 15
        delay = sh.step()
        assert delay is not None
        delays.append(delay)
    assert sh.spool.reports == 30
    assert sh.push_failures_total >= 1
    # The backoff grows, then stays at its cap.
    assert max(delays) <= BACKOFF_CAP
    double = CollectorDouble(port=port).start()
    try:
        clock.now += BACKOFF_CAP
        _drain(sh, clock)
        assert double.seqs() == list(range(1, 31))
        # The spool replayed several reports per request.
        assert max(n for _, n in double.requests) > 1
        assert sh.spool.reports == 0
    finally:
        double.stop()
        sh.spool.close()


def test_5xx_is_retried_with_backoff(tmp_path: Path, double: CollectorDouble) -> None:
    clock = Clock()
    sh = _shipper(tmp_path, double.url, clock)
    _add(sh, range(1, 3))
    double.script = [Answer(500, {"error": "db down"}), Answer(503, {"error": "busy"})]
    first = sh.step()
    second_too_early = sh.step()
    assert first == pytest.approx(backoff_delay(1, 1.0))
    assert second_too_early == pytest.approx(first)  # nothing sent before the backoff ends
    assert len(double.requests) == 1
    clock.now += first  # type: ignore[operator]
    second = sh.step()
    assert second == pytest.approx(backoff_delay(2, 1.0))
    clock.now += second  # type: ignore[operator]
    _drain(sh, clock)
    assert double.seqs() == [1, 2]
    assert sh.push_failures_total == 2
    sh.spool.close()


def test_429_honours_retry_after(tmp_path: Path, double: CollectorDouble) -> None:
    clock = Clock()
    sh = _shipper(tmp_path, double.url, clock)
    _add(sh, range(1, 2))
    double.script = [Answer(429, {"error": "slow down"}, {"Retry-After": "42"})]
    assert sh.step() == 42.0
    clock.now += 41
    assert sh.step() == pytest.approx(1.0)
    assert len(double.requests) == 1
    clock.now += 1
    assert sh.step() == 0.0
    assert double.seqs() == [1]
    sh.spool.close()


def test_a_refused_report_is_set_aside_with_the_collectors_message(tmp_path: Path,
                                                                    double: CollectorDouble) -> None:
    clock = Clock()
    sh = _shipper(tmp_path, double.url, clock)
    _add(sh, range(1, 2))
    double.script = [Answer(422, {"error": "sample value is not finite", "field": "samples.3.value"})]
    assert sh.step() == 0.0
    assert sh.step() is None  # not resent
    assert len(double.requests) == 1
    assert sh.rejected_total == 1
    reason = (tmp_path / "rejected" / f"{1:012d}.reason").read_text()
    assert "422" in reason
    assert "sample value is not finite" in reason
    assert "samples.3.value" in reason
    assert (tmp_path / "rejected" / f"{1:012d}.json").is_file()
    _add(sh, range(2, 3))
    _drain(sh, clock)
    assert double.seqs() == [2]
    sh.spool.close()


def test_a_batch_with_one_bad_report_loses_only_that_one(tmp_path: Path, double: CollectorDouble) -> None:
    clock = Clock()
    sh = _shipper(tmp_path, double.url, clock)
    _add(sh, range(1, 5))
    double.refuse = {2}  # every request holding report 2 is refused
    _drain(sh, clock)
    assert double.seqs() == [1, 3, 4]
    assert sh.rejected_total == 1
    assert next(n for _, n in double.requests) == 4
    sh.spool.close()


def test_413_halves_the_batch(tmp_path: Path, double: CollectorDouble) -> None:
    clock = Clock()
    sh = _shipper(tmp_path, double.url, clock)
    _add(sh, range(1, 9))
    double.script = [Answer(413, {"error": "body too large"})]
    _drain(sh, clock)
    assert double.seqs() == list(range(1, 9))
    assert [n for _, n in double.requests][:2] == [8, 4]
    assert sh.rejected_total == 0
    sh.spool.close()


def test_retry_after_forms() -> None:
    assert retry_after_seconds("120", 0.0) == 120.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470.0) == pytest.approx(10.0)
    assert retry_after_seconds("soon", 0.0) is None
    assert retry_after_seconds(None, 0.0) is None


def test_backoff_is_capped_and_jittered() -> None:
    assert backoff_delay(1, 0.0) == pytest.approx(0.5)
    assert backoff_delay(1, 1.0) == pytest.approx(1.0)
    assert backoff_delay(4, 1.0) == pytest.approx(8.0)
    assert backoff_delay(100, 1.0) == BACKOFF_CAP
    assert BACKOFF_CAP / 2 <= backoff_delay(100, 0.3) <= BACKOFF_CAP


# -- TLS ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A throwaway CA and a certificate for 127.0.0.1 signed by it."""
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_tls_is_verified_against_the_configured_ca(tmp_path: Path, pki: dict[str, Path]) -> None:
    double = CollectorDouble(tls=(pki["cert"], pki["key"])).start()
    try:
        clock = Clock()
        trusting = Shipper(Spool(tmp_path / "a", 10**9, 10**9),
                           CollectorEndpoint(double.url, CollectorConfig(url=double.url, ca_file=pki["ca"])),
                           lambda: "host-token", tmp_path / "rej", clock=clock, rand=lambda: 1.0)
        _add(trusting, range(1, 3))
        _drain(trusting, clock)
        assert double.seqs() == [1, 2]
        # Without the CA the collector's certificate is unknown: nothing is sent, all stays spooled.
        wary = Shipper(Spool(tmp_path / "b", 10**9, 10**9),
                       CollectorEndpoint(double.url, CollectorConfig(url=double.url)),
                       lambda: "host-token", tmp_path / "rej", clock=clock, rand=lambda: 1.0)
        _add(wary, range(3, 4))
        assert wary.step() == pytest.approx(backoff_delay(1, 1.0))
        assert wary.spool.reports == 1
        assert double.seqs() == [1, 2]
        trusting.spool.close()
        wary.spool.close()
    finally:
        double.stop()


def test_a_certificate_for_another_name_is_refused(tmp_path: Path) -> None:
    """The CA is trusted, but the certificate names another host: the host name check must refuse it."""
    other = make_pki(tmp_path, ("DNS:collector.example",))
    double = CollectorDouble(tls=(other["cert"], other["key"])).start()
    try:
        endpoint = CollectorEndpoint(double.url, CollectorConfig(url=double.url, ca_file=other["ca"]))
        with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
            endpoint.request("POST", "/api/v1/reports", b"{}", {})
        assert double.requests == []
    finally:
        double.stop()


def test_system_cas_in_a_hashed_directory_are_looked_up_when_needed(
        tmp_path: Path, pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Without collector.ca_file the system's CAs are trusted; kept as a hashed directory they are
    read on demand (none parsed up front), and verification still succeeds, and fails for a stranger."""
    certs = tmp_path / "certs"
    certs.mkdir()
    openssl = require_binary("openssl")
    subject_hash = subprocess.run([openssl, "x509", "-hash", "-noout", "-in", str(pki["ca"])],
                                  capture_output=True, text=True, check=True).stdout.strip()
    (certs / f"{subject_hash}.0").write_bytes(pki["ca"].read_bytes())
    real = ssl.get_default_verify_paths()
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: real._replace(openssl_capath=str(certs)))
    monkeypatch.delenv(real.openssl_cafile_env, raising=False)
    monkeypatch.delenv(real.openssl_capath_env, raising=False)
    ctx = tls_context(None)
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname
    assert ctx.cert_store_stats()["x509_ca"] == 0  # nothing parsed up front
    (tmp_path / "other").mkdir()
    stranger = make_pki(tmp_path / "other")
    double = CollectorDouble(tls=(pki["cert"], pki["key"])).start()
    other = CollectorDouble(tls=(stranger["cert"], stranger["key"])).start()
    enroll = b'{"token": "wrong"}'
    try:
        endpoint = CollectorEndpoint(double.url, CollectorConfig(url=double.url))
        assert endpoint.request("POST", "/api/v1/enroll", enroll, {})[0] == 401  # an answer: TLS was fine
        endpoint.close()
        with pytest.raises(ssl.SSLCertVerificationError):
            CollectorEndpoint(other.url, CollectorConfig(url=other.url)).request("POST", "/x", enroll, {})
        # No hashed names in the directory: the system's default loading, which has never heard of our CA.
        (certs / f"{subject_hash}.0").rename(certs / "ca.pem")
        with pytest.raises(ssl.SSLCertVerificationError):
            CollectorEndpoint(double.url, CollectorConfig(url=double.url)).request("POST", "/x", enroll, {})
    finally:
        double.stop()
        other.stop()


class RawServer:
    """Answers each connection's requests with scripted raw bytes (one item per request), to play
    HTTP/1.1 the way other servers write it: chunked bodies, Connection: close, garbage."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = answers
        self.requests: list[bytes] = []
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/base"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while self.answers:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn, conn.makefile("rb") as f:  # both closed: the client sees the end
                while self.answers:
                    head = b""
                    while not head.endswith(b"\r\n\r\n"):
                        line = f.readline()
                        if not line:
                            break
                        head += line
                    if not head:
                        break
                    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                    self.requests.append(head + f.read(length))
                    answer = self.answers.pop(0)
                    conn.sendall(answer)
                    if b"connection: close" in answer.lower():
                        break

    def close(self) -> None:
        self._sock.close()


def _plain_endpoint(url: str) -> CollectorEndpoint:
    return CollectorEndpoint(url, CollectorConfig(allow_plaintext=True, timeout=5))


def test_http_answers_in_every_framing_are_read() -> None:
    server = RawServer([
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many\r\nRetry-After: 7\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nConnection: close\r\n\r\nuntil the end",
        b"HTTP/1.0 204 No Content\r\n\r\n",
    ])
    endpoint = _plain_endpoint(server.url)
    try:
        assert endpoint.request("POST", "/x", b"12345", {"Authorization": "Bearer t"}) == (
            200, {"content-length": "2"}, b"ok")
        status, headers, body = endpoint.request("POST", "/y", b"", {})
        assert (status, headers["retry-after"], body) == (429, "7", b"abcde")
        assert endpoint.request("POST", "/z", b"", {})[::2] == (201, b"until the end")
        assert endpoint.request("POST", "/w", b"", {})[::2] == (204, b"")
    finally:
        endpoint.close()
        server.close()
    first = server.requests[0]
    assert first.startswith(b"POST /base/x HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:" in first
    assert b"\r\nAuthorization: Bearer t\r\n" in first
    assert first.endswith(b"\r\nContent-Length: 5\r\n\r\n12345")
    # Kept alive for the first two; the server closed after the third, so the fourth reconnected.
    assert server.connections == 2


def test_a_garbled_answer_is_an_oserror_and_a_header_cannot_smuggle_lines() -> None:
    server = RawServer([b"SSH-2.0-OpenSSH_9.2\r\n\r\n"])
    endpoint = _plain_endpoint(server.url)
    try:
        with pytest.raises(OSError, match="status line"):
            endpoint.request("POST", "/x", b"", {})
        with pytest.raises(ValueError, match="header"):
            endpoint.request("POST", "/x", b"", {"Authorization": "Bearer t\r\nX-Evil: 1"})
    finally:
        endpoint.close()
        server.close()


def test_plaintext_needs_an_explicit_yes() -> None:
    with pytest.raises(ConfigError) as info:
        CollectorEndpoint("http://127.0.0.1:1", CollectorConfig())
    assert info.value.key == "collector.url"
    CollectorEndpoint("http://127.0.0.1:1", CollectorConfig(allow_plaintext=True)).close()


def test_spool_overflow_while_down_drops_the_oldest_and_counts_them_exactly(tmp_path: Path) -> None:
    port = free_port()
    clock = Clock()
    one = len(encode_report(build_report(agent_id=AGENT, seq=10, ts=1.7e9 + 10, interval=15.0, facts={},
                                         samples=[], checks=[]))) + 28
    spool = Spool(tmp_path / "spool", max_bytes=one * 10, max_age=10**9)
    sh = _shipper(tmp_path, f"http://127.0.0.1:{port}", clock, spool)
    for s in range(10, 40):  # two-digit seqs: every record the same size
        _add(sh, range(s, s + 1))
        clock.now += 15
        sh.step()
    assert spool.dropped_total == 20
    double = CollectorDouble(port=port).start()
    try:
        clock.now += BACKOFF_CAP
        _drain(sh, clock)
        assert double.seqs() == list(range(30, 40))  # the newest ten, each once, in order
    finally:
        double.stop()
        spool.close()

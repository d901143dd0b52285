"""HTTP(S) to the collector over a socket: TLS verified, plaintext only when allowed.

The agent sends one kind of request (a POST with a body, answered with a small JSON body),
so it speaks that part of HTTP/1.1 itself: ``http.client`` would bring the ``email``
package along, a megabyte and more of a long-running agent's memory for header parsing it
does not need. TLS is the standard library's: ``ssl.create_default_context`` (certificate
and host name verified), loaded only for an https:// collector.
"""

from __future__ import annotations

import os
import re
import socket
import time
from io import BufferedReader

from agent import __version__
from agent.config import split_url
from agent.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl

    from agent.config import CollectorConfig

USER_AGENT = f"upkeep-agent/{__version__}"
# Servers drop idle keep-alive connections after a few seconds (uvicorn: 5 s); past this a
# connection is not worth trying again, a new one is opened straight away.
IDLE_REUSE = 4.0
_MAX_LINE = 65536
_MAX_HEADERS = 100
_MAX_BODY = 16 * 2**20


_HASHED_CERT = re.compile(r"^[0-9a-f]{8}\.\d+$")


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """A client context that verifies the certificate chain and the host name (CERT_REQUIRED).

    With ``ca_file`` only that CA is trusted. Without, the system's CAs are: when the system
    keeps them as a hashed directory (Debian, Ubuntu, Alpine: update-ca-certificates) OpenSSL
    is pointed at it and reads the one CA a chain needs when it needs it, instead of parsing
    the whole bundle (some 140 certificates, about a megabyte resident) into the context. The
    same CAs are trusted either way; where there is no such directory, or SSL_CERT_FILE or
    SSL_CERT_DIR say otherwise, the system's default loading is used.
    """
    import ssl

    if ca_file:
        return ssl.create_default_context(cafile=ca_file)
    paths = ssl.get_default_verify_paths()
    capath = paths.openssl_capath
    if not (os.environ.get(paths.openssl_cafile_env) or os.environ.get(paths.openssl_capath_env)):
        try:
            hashed = any(_HASHED_CERT.match(name) for name in os.listdir(capath))
        except OSError:
            hashed = False
        if hashed:
            return ssl.create_default_context(capath=capath)
    return ssl.create_default_context()


class ResponseError(OSError):
    """The collector's answer was not HTTP/1.x as expected (a garbled status line, a bad length)."""


def _read_line(f: BufferedReader, what: str) -> bytes:
    line = f.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise ResponseError(f"{what} longer than {_MAX_LINE} bytes")
    return line


def _read_exact(f: BufferedReader, n: int) -> bytes:
    data = f.read(n)
    if len(data) < n:
        raise ResponseError(f"the answer ended after {len(data)} of {n} bytes")
    return data


def _read_chunked(f: BufferedReader) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        line = _read_line(f, "a chunk size").split(b";", 1)[0].strip()
        try:
            size = int(line, 16)
        except ValueError:
            raise ResponseError(f"bad chunk size {line[:20]!r}") from None
        if size == 0:
            break
        total += size
        if total > _MAX_BODY:
            raise ResponseError(f"an answer of more than {_MAX_BODY} bytes")
        parts.append(_read_exact(f, size))
        _read_exact(f, 2)  # the CRLF after the chunk
    while _read_line(f, "a trailer") not in (b"\r\n", b"\n", b""):  # trailers, ignored
        pass
    return b"".join(parts)


def read_response(f: BufferedReader, method: str) -> tuple[int, dict[str, str], bytes, bool]:
    """(status, lower-cased headers, body, the server will close) of one HTTP/1.x answer from ``f``."""
    while True:
        line = _read_line(f, "the status line")
        if not line:
            raise ConnectionResetError("the collector closed the connection without answering")
        version, _, rest = line.decode("latin-1").strip().partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise ResponseError(f"not an HTTP/1.x status line: {line[:80]!r}")
        status = int(code)
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS + 1):
            h = _read_line(f, "a header")
            if h in (b"\r\n", b"\n", b""):
                break
            name, sep, value = h.decode("latin-1").partition(":")
            if not sep:
                raise ResponseError(f"a header line without a colon: {h[:80]!r}")
            headers[name.strip().lower()] = value.strip()
        else:
            raise ResponseError(f"more than {_MAX_HEADERS} headers")
        if not 100 <= status < 200:
            break  # 1xx answers are interim: the real one follows
    conn = headers.get("connection", "").lower()
    will_close = "close" in conn or (version == "HTTP/1.0" and "keep-alive" not in conn)
    if method == "HEAD" or status in (204, 304):
        return status, headers, b"", will_close
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return status, headers, _read_chunked(f), will_close
    length = headers.get("content-length")
    if length is None:
        body = f.read(_MAX_BODY + 1)  # until the server closes
        if len(body) > _MAX_BODY:
            raise ResponseError(f"an answer of more than {_MAX_BODY} bytes")
        return status, headers, body, True
    if not length.isdigit() or int(length) > _MAX_BODY:
        raise ResponseError(f"bad Content-Length {length[:20]!r}")
    return status, headers, _read_exact(f, int(length)), will_close


class CollectorEndpoint:
    """One collector base URL; sends requests on a connection it keeps alive.

    A single connection is kept alive between pushes (a TLS handshake every 15 s would be
    most of the agent's CPU); when the collector has closed it meanwhile, ``request``
    retries once on a fresh one.
    """

    def __init__(self, base_url: str, cfg: CollectorConfig) -> None:
        try:
            scheme, self._host, port, path = split_url(base_url.rstrip("/"))
        except ValueError:
            raise ConfigError("collector.url", f"{base_url!r} is not an http(s) URL") from None
        if scheme == "http" and not cfg.allow_plaintext:
            raise ConfigError("collector.url", "plaintext http:// needs collector.allow_plaintext: true")
        self.base_url = base_url.rstrip("/")
        self._https = scheme == "https"
        default = 443 if self._https else 80
        self._port = port or default
        host = f"[{self._host}]" if ":" in self._host else self._host
        self._host_header = host if self._port == default else f"{host}:{self._port}"
        self._prefix = path.rstrip("/")
        self._timeout = cfg.timeout
        self._ctx: ssl.SSLContext | None = None
        if self._https:
            self._ctx = tls_context(str(cfg.ca_file) if cfg.ca_file else None)
        self._sock: socket.socket | None = None
        self._file: BufferedReader | None = None
        self._last_used = 0.0

    def _connect(self) -> None:
        # An ASCII name is handed over as bytes: the same name for the resolver and the TLS
        # check, without loading the IDNA codec (and unicodedata) that a str goes through.
        name: str | bytes = self._host.encode("ascii") if self._host.isascii() else self._host
        sock = socket.create_connection((name, self._port), timeout=self._timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._ctx is not None:
                sock = self._ctx.wrap_socket(sock, server_hostname=name)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._file = sock.makefile("rb")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _head(self, method: str, route: str, body: bytes, headers: dict[str, str]) -> bytes:
        lines = [f"{method} {self._prefix + route} HTTP/1.1", f"Host: {self._host_header}",
                 f"User-Agent: {USER_AGENT}"]
        for k, v in headers.items():
            if any(c in k or c in v for c in "\r\n\0") or ":" in k:
                raise ValueError(f"header {k!r} holds a character a header cannot")
            lines.append(f"{k}: {v}")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def request(self, method: str, route: str, body: bytes,
                headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """(status, lower-cased headers, body). Raises OSError when there is no (valid) answer."""
        head = self._head(method, route, body, headers)
        if self._sock is not None and time.monotonic() - self._last_used > IDLE_REUSE:
            self.close()
        reused = self._sock is not None
        for attempt in (0, 1):
            try:
                if self._sock is None:
                    self._connect()
                assert self._sock is not None
                self._sock.sendall(head + body)
                status, got, data, will_close = read_response(self._file, method)
                self._last_used = time.monotonic()
                if will_close:
                    self.close()
                return status, got, data
            except OSError:
                self.close()
                # Only a kept-alive connection gets a second try: the server may have closed it idle.
                if attempt or not reused:
                    raise
        raise AssertionError("unreachable")

"""HTTP(S) to the collector on the standard library: TLS verified, plaintext only when allowed."""

from __future__ import annotations

import http.client
import ssl
import time
from urllib.parse import urlsplit

from agent import __version__
from agent.config import CollectorConfig
from agent.errors import ConfigError

USER_AGENT = f"upkeep-agent/{__version__}"
# Servers drop idle keep-alive connections after a few seconds (uvicorn: 5 s); past this a
# connection is not worth trying again, a new one is opened straight away.
IDLE_REUSE = 4.0


class CollectorEndpoint:
    """One collector base URL; hands out connections and the path of an API route.

    A single connection is kept alive between pushes (a TLS handshake every 15 s would be
    most of the agent's CPU); when the collector has closed it meanwhile, ``request``
    retries once on a fresh one.
    """

    def __init__(self, base_url: str, cfg: CollectorConfig) -> None:
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme == "http" and not cfg.allow_plaintext:
            raise ConfigError("collector.url", "plaintext http:// needs collector.allow_plaintext: true")
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigError("collector.url", f"{base_url!r} is not an http(s) URL")
        self.base_url = base_url.rstrip("/")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._timeout = cfg.timeout
        self._ctx: ssl.SSLContext | None = None
        if self._https:
            self._ctx = ssl.create_default_context(cafile=str(cfg.ca_file) if cfg.ca_file else None)
        self._conn: http.client.HTTPConnection | None = None
        self._last_used = 0.0

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout,
                                               context=self._ctx)
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, route: str, body: bytes,
                headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """(status, lower-cased headers, body). Raises OSError / http.client.HTTPException on no answer."""
        headers = {"User-Agent": USER_AGENT, **headers}
        if self._conn is not None and time.monotonic() - self._last_used > IDLE_REUSE:
            self.close()
        reused = self._conn is not None
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = self._connect()
            try:
                self._conn.request(method, self._prefix + route, body=body, headers=headers)
                resp = self._conn.getresponse()
                data = resp.read()
                got = {k.lower(): v for k, v in resp.getheaders()}
                self._last_used = time.monotonic()
                if resp.will_close:
                    self.close()
                return resp.status, got, data
            except (OSError, http.client.HTTPException):
                self.close()
                # Only a kept-alive connection gets a second try: the server may have closed it idle.
                if attempt or not reused:
                    raise
        raise AssertionError("unreachable")

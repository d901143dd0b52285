"""A small real HTTP server that speaks the collector's side of docs/report-format.md.

It stores what it is sent and answers as scripted: by default 200 with the accepted and
duplicate counts, or whatever ``script`` says for the next requests (to play 5xx, 429, 4xx).
It is a seam we own: the agent talks to it over real sockets, exactly as to the collector.
"""

from __future__ import annotations

import gzip
import json
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support import require_binary


def make_pki(d: Path, names: tuple[str, ...] = ("IP:127.0.0.1",)) -> dict[str, Path]:
    """A throwaway CA and a server certificate for ``names`` (subjectAltName) signed by it, by the real
    openssl. Returns the paths of ``ca``, ``cert`` and ``key``."""
    openssl = require_binary("openssl")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = lambda *a: subprocess.run([openssl, *a], check=True, capture_output=True, cwd=d)  # noqa: E731
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=upkeep test CA")
    run("req", *ec, "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=upkeep test server")
    (d / "san.ext").write_text(f"subjectAltName={','.join(names)}\n")
    run("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "srv.pem", "-days", "2", "-extfile", "san.ext")
    return {"ca": d / "ca.pem", "cert": d / "srv.pem", "key": d / "srv.key"}


@dataclass
class Answer:
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


class CollectorDouble:
    def __init__(self, port: int = 0, token: str = "host-token",  # noqa: S107 - a test secret
                 tls: tuple[Path, Path] | None = None) -> None:
        self.tls = tls  # (certificate chain, key): serve HTTPS
        self.token = token
        self.port = port
        self.script: list[Answer | None] = []  # None: answer as a healthy collector would
        self.reports: list[dict[str, Any]] = []
        self.requests: list[tuple[str, int]] = []  # (path, number of reports in the body)
        self.enrollments: list[dict[str, Any]] = []
        self.refuse: set[int] = set()  # seqs answered 400, alone or in any batch
        self._seen: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def seqs(self) -> list[int]:
        with self._lock:
            return [r["seq"] for r in self.reports]

    def start(self) -> CollectorDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: dict[str, Any],
                       headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                doc = json.loads(raw)
                if self.path == "/api/v1/enroll":
                    double.enrollments.append(doc)
                    if doc.get("token") != "enroll-me":
                        self._reply(401, {"error": "unknown enrollment token", "field": "token"})
                        return
                    self._reply(201, {"host_id": "h1", "host": "db-01", "customer": "acme",
                                      "host_token": double.token})
                    return
                reports = doc.get("reports", [doc])
                with double._lock:
                    double.requests.append((self.path, len(reports)))
                    answer = double.script.pop(0) if double.script else None
                if answer is not None:
                    self._reply(answer.status, answer.body, answer.headers)
                    return
                bad = [r["seq"] for r in reports if r["seq"] in double.refuse]
                if bad:
                    self._reply(400, {"error": f"report {bad[0]} is malformed", "field": "samples"})
                    return
                if self.headers.get("Authorization") != f"Bearer {double.token}":
                    self._reply(401, {"error": "bad token", "field": "Authorization"})
                    return
                accepted = duplicates = 0
                with double._lock:
                    for r in reports:
                        key = (r["agent_id"], r["seq"])
                        if key in double._seen:
                            duplicates += 1
                            continue
                        double._seen.add(key)
                        double.reports.append(r)
                        accepted += 1
                self._reply(200, {"accepted": accepted, "duplicates": duplicates})

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

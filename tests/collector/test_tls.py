"""`tls` in the configuration: the server speaks HTTPS with that certificate, verified by the client."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support import require_binary
from tests.support.collector import Collector


def test_serve_with_tls(tmp_path: Path) -> None:
    openssl = require_binary("openssl", "/usr/bin/openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    trust = ssl.create_default_context(cafile=str(cert))
    c = Collector(tmp_path / "c", {"tls": {"cert": str(cert), "key": str(key)}}, verify=trust)
    assert c.base_url.startswith("https://")
    c.start()
    try:
        assert httpx.get(f"{c.base_url}/healthz", verify=trust).json() == {"status": "ok"}
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{c.base_url}/healthz")  # the system's CAs do not know this certificate
    finally:
        c.stop()
        c.kill()

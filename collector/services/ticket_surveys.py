"""Signed satisfaction-survey links that need no login.

A link carries the ticket id, its cycle (how often it was reopened, so a link of an
earlier resolution cannot answer a later one) and an expiry time, signed with
HMAC-SHA256 under the collector's secret key. The key is read from
``secret_key_file`` or generated once (0600) in the data directory.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from collector.config import CollectorConfig
from collector.errors import ConfigError, Forbidden

KEY_FILE = "secret.key"


def load_secret(config: CollectorConfig) -> bytes:
    """The signing key; generated with mode 0600 in the data directory when none is configured."""
    path = Path(config.secret_key_file) if config.secret_key_file else Path(config.data_dir) / KEY_FILE
    try:
        data = path.read_bytes().strip()
    except FileNotFoundError:
        if config.secret_key_file:
            raise ConfigError("secret_key_file", f"{path} does not exist") from None
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48).encode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, key + b"\n")
        finally:
            os.close(fd)
        return key
    except OSError as exc:
        raise ConfigError("secret_key_file", f"cannot read {path}: {exc.strerror}") from None
    if len(data) < 16:
        raise ConfigError("secret_key_file", "the key is shorter than 16 bytes")
    return data


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SurveyLinks:
    def __init__(self, key: bytes) -> None:
        self._key = hashlib.sha256(b"upkeep-survey\0" + key).digest()

    def sign(self, ticket_id: int, cycle: int, expires: float) -> str:
        body = f"{ticket_id}.{cycle}.{int(expires)}".encode()
        mac = hmac.new(self._key, body, hashlib.sha256).digest()
        return f"{_b64(body)}.{_b64(mac)}"

    def verify(self, token: str, now: float) -> tuple[int, int]:
        """(ticket id, cycle) of a genuine, unexpired link; Forbidden saying what is wrong otherwise."""
        try:
            body_text, mac_text = token.split(".")
            body, mac = _unb64(body_text), _unb64(mac_text)
            tid, cycle, expires = (int(p) for p in body.decode().split("."))
        except (ValueError, UnicodeDecodeError):
            raise Forbidden("the survey link is malformed or has been tampered with") from None
        good = hmac.new(self._key, body, hashlib.sha256).digest()
        if not hmac.compare_digest(good, mac):
            raise Forbidden("the survey link has been tampered with")
        if now >= expires:
            raise Forbidden("the survey link has expired")
        return tid, cycle

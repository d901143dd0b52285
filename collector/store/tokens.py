"""Token tables and queries: engineers' API tokens and enrollment tokens.

Only the sha256 of a token is stored; ``hash_token`` is the one way to compute it.
API tokens look like ``upk_...``, enrollment tokens ``upe_...``, host tokens ``uph_...``
(the prefix tells a reader what was pasted; it is not a secret).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Boolean, Column, Float, String, Table, insert, select, update
from sqlalchemy.engine import Connection

from collector.store.metadata import metadata

ROLES = ("viewer", "engineer", "admin")

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("customer", String(64), nullable=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
)

enrollment_tokens = Table(
    "enrollment_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("customer", String(64), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("once", Boolean, nullable=False, default=False),
    Column("used_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_secret(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


@dataclass(frozen=True)
class ApiToken:
    id: str
    name: str
    role: str
    customer: str | None
    created_at: float
    revoked_at: float | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_API_COLUMNS = [api_tokens.c[n] for n in ApiToken.__dataclass_fields__]


def create_api_token(
    conn: Connection, *, role: str, customer: str | None, name: str, now: float
) -> tuple[ApiToken, str]:
    """A new API token; the secret is returned once and only its hash is kept."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    secret = new_secret("upk")
    token = ApiToken(uuid.uuid4().hex[:12], name, role, customer, now, None)
    conn.execute(insert(api_tokens).values(**asdict(token), token_hash=hash_token(secret)))
    return token, secret


def get_api_token_by_hash(conn: Connection, token_hash: str) -> tuple[ApiToken, str] | None:
    row = conn.execute(
        select(*_API_COLUMNS, api_tokens.c.token_hash).where(api_tokens.c.token_hash == token_hash)
    ).first()
    if row is None:
        return None
    m = row._mapping
    return ApiToken(**{k: m[k] for k in ApiToken.__dataclass_fields__}), m["token_hash"]


def list_api_tokens(conn: Connection) -> list[ApiToken]:
    rows = conn.execute(select(*_API_COLUMNS).order_by(api_tokens.c.created_at))
    return [ApiToken(**{k: r._mapping[k] for k in ApiToken.__dataclass_fields__}) for r in rows]


def revoke_api_token(conn: Connection, token_id: str, now: float) -> bool:
    """True when a live token with this id (or name) was revoked."""
    from collector.store.inventory import bump_generation

    done = conn.execute(
        update(api_tokens)
        .where(
            (api_tokens.c.id == token_id) | (api_tokens.c.name == token_id), api_tokens.c.revoked_at.is_(None)
        )
        .values(revoked_at=now)
    ).rowcount
    if done:
        bump_generation(conn, "auth")
    return bool(done)


@dataclass(frozen=True)
class EnrollmentToken:
    id: str
    customer: str
    created_at: float
    expires_at: float
    once: bool
    used_at: float | None
    revoked_at: float | None

    def usable(self, now: float) -> bool:
        return self.revoked_at is None and now < self.expires_at and not (self.once and self.used_at)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_ENROLL_COLUMNS = [enrollment_tokens.c[n] for n in EnrollmentToken.__dataclass_fields__]


def create_enrollment_token(
    conn: Connection, *, customer: str, expires_at: float, once: bool, now: float
) -> tuple[EnrollmentToken, str]:
    secret = new_secret("upe")
    token = EnrollmentToken(uuid.uuid4().hex[:12], customer, now, expires_at, once, None, None)
    conn.execute(insert(enrollment_tokens).values(**asdict(token), token_hash=hash_token(secret)))
    return token, secret


def get_enrollment_token_by_hash(conn: Connection, token_hash: str) -> tuple[EnrollmentToken, str] | None:
    row = conn.execute(
        select(*_ENROLL_COLUMNS, enrollment_tokens.c.token_hash).where(
            enrollment_tokens.c.token_hash == token_hash
        )
    ).first()
    if row is None:
        return None
    m = row._mapping
    return EnrollmentToken(**{k: m[k] for k in EnrollmentToken.__dataclass_fields__}), m["token_hash"]


def use_enrollment_token(conn: Connection, token_id: str, once: bool, now: float) -> bool:
    """Mark a token used; for a one-time token this succeeds for exactly one caller."""
    q = update(enrollment_tokens).where(enrollment_tokens.c.id == token_id)
    if once:
        q = q.where(enrollment_tokens.c.used_at.is_(None))
    return bool(conn.execute(q.values(used_at=now)).rowcount)


def list_enrollment_tokens(conn: Connection) -> list[EnrollmentToken]:
    rows = conn.execute(select(*_ENROLL_COLUMNS).order_by(enrollment_tokens.c.created_at))
    return [EnrollmentToken(**{k: r._mapping[k] for k in EnrollmentToken.__dataclass_fields__}) for r in rows]


def revoke_enrollment_token(conn: Connection, token_id: str, now: float) -> bool:
    return bool(
        conn.execute(
            update(enrollment_tokens)
            .where(enrollment_tokens.c.id == token_id, enrollment_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        ).rowcount
    )

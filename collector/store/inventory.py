"""Inventory tables and queries: hosts, and the small key/number table ``store_meta``.

Promises to the other areas:

- A host's ``name`` is unique across the whole inventory (not per customer), so a
  name alone identifies a host on the command line, in tickets and in rules; when an
  agent enrolls with a hostname that is already taken, it gets ``name-2``, ``name-3``...
- ``id`` is 32 lower-case hex characters, fixed at enrollment.
- Times are Unix seconds (float), UTC.
- ``status`` is ``up``, ``down`` (missed 3 report intervals) or ``revoked``.
- ``facts`` is the agent's latest facts (OS, kernel, CPU, memory, agent version,
  ``ssh_host_keys``); ``checks`` the latest check results, a list of
  ``{"name", "kind", "status", "output", "duration", "ts"}``.

Every query takes a SQLAlchemy ``Connection`` so the caller decides the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Float, String, Table, insert, or_, select, update
from sqlalchemy.engine import Connection

from collector.store.metadata import metadata

hosts = Table(
    "hosts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("customer", String(64), nullable=False, index=True),
    Column("agent_id", String(32), nullable=False, unique=True),
    Column("labels", JSON, nullable=False, default=dict),
    Column("facts", JSON, nullable=False, default=dict),
    Column("checks", JSON, nullable=False, default=list),
    Column("agent_version", String(64), nullable=False, default=""),
    Column("interval", Float, nullable=False, default=15.0),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=True),
    Column("status", String(16), nullable=False, default="up"),
    Column("token_hash", String(64), nullable=True, unique=True),
    Column("revoked_at", Float, nullable=True),
)

store_meta = Table(
    "store_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False, default=0),
)

# Register the other inventory-area tables on the shared metadata.
import collector.store.reportlog  # noqa: E402
import collector.store.tokens  # noqa: E402, F401

STATUSES = ("up", "down", "revoked")


@dataclass(frozen=True)
class Host:
    id: str
    name: str
    customer: str
    agent_id: str
    labels: dict[str, str] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    agent_version: str = ""
    interval: float = 15.0
    first_seen: float = 0.0
    last_seen: float | None = None
    status: str = "up"
    revoked_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The host as the API and ``upkeep hosts show --json`` give it (never the token hash)."""
        return asdict(self)


_HOST_COLUMNS = [hosts.c[name] for name in Host.__dataclass_fields__]


def _host(row: Any) -> Host:
    m = row._mapping
    return Host(**{k: m[k] for k in Host.__dataclass_fields__})


def new_host_id() -> str:
    return uuid.uuid4().hex


def get_host(conn: Connection, ident: str) -> Host | None:
    """The host with this id or name, or None."""
    row = conn.execute(
        select(*_HOST_COLUMNS).where(or_(hosts.c.id == ident, hosts.c.name == ident)).limit(1)
    ).first()
    return _host(row) if row else None


def get_host_by_agent(conn: Connection, agent_id: str) -> Host | None:
    row = conn.execute(select(*_HOST_COLUMNS).where(hosts.c.agent_id == agent_id)).first()
    return _host(row) if row else None


def get_host_by_token_hash(conn: Connection, token_hash: str) -> tuple[Host, str] | None:
    """The host holding this token hash, with the stored hash (for a constant-time compare)."""
    row = conn.execute(
        select(*_HOST_COLUMNS, hosts.c.token_hash).where(hosts.c.token_hash == token_hash)
    ).first()
    if row is None:
        return None
    return _host(row), row._mapping["token_hash"]


def list_hosts(
    conn: Connection, customer: str | None = None, *, customers: Iterable[str] | None = None
) -> list[Host]:
    """Hosts ordered by name, optionally of one customer or of a set of customers."""
    q = select(*_HOST_COLUMNS).order_by(hosts.c.name)
    if customer is not None:
        q = q.where(hosts.c.customer == customer)
    if customers is not None:
        q = q.where(hosts.c.customer.in_(list(customers)))
    return [_host(r) for r in conn.execute(q)]


def unique_host_name(conn: Connection, wanted: str) -> str:
    """``wanted`` if free, else the first free ``wanted-2``, ``wanted-3``..."""
    taken = set(
        conn.execute(
            select(hosts.c.name).where(or_(hosts.c.name == wanted, hosts.c.name.like(f"{wanted}-%")))
        ).scalars()
    )
    if wanted not in taken:
        return wanted
    n = 2
    while f"{wanted}-{n}" in taken:
        n += 1
    return f"{wanted}-{n}"


def insert_host(
    conn: Connection,
    *,
    name: str,
    customer: str,
    agent_id: str,
    facts: dict[str, Any],
    token_hash: str,
    now: float,
    labels: dict[str, str] | None = None,
) -> Host:
    host_id = new_host_id()
    conn.execute(
        insert(hosts).values(
            id=host_id,
            name=name,
            customer=customer,
            agent_id=agent_id,
            labels=labels or {},
            facts=facts,
            checks=[],
            agent_version=str(facts.get("agent_version", "")),
            interval=15.0,
            first_seen=now,
            last_seen=now,
            status="up",
            token_hash=token_hash,
            revoked_at=None,
        )
    )
    host = get_host(conn, host_id)
    assert host is not None
    return host


def set_host_token(
    conn: Connection, host_id: str, token_hash: str, facts: dict[str, Any], now: float
) -> None:
    """A re-enrollment: a new host token replaces the old one and lifts a revocation."""
    conn.execute(
        update(hosts)
        .where(hosts.c.id == host_id)
        .values(token_hash=token_hash, facts=facts, revoked_at=None, status="up", last_seen=now)
    )


def revoke_host(conn: Connection, host_id: str, now: float) -> None:
    """The host's token stops working on its next request (see bump_generation)."""
    conn.execute(
        update(hosts).where(hosts.c.id == host_id).values(token_hash=None, revoked_at=now, status="revoked")
    )
    bump_generation(conn, "auth")


def set_host_labels(conn: Connection, host_id: str, labels: dict[str, str]) -> None:
    conn.execute(update(hosts).where(hosts.c.id == host_id).values(labels=labels))


def set_host_status(conn: Connection, host_id: str, status: str) -> None:
    conn.execute(
        update(hosts).where(hosts.c.id == host_id, hosts.c.status != "revoked").values(status=status)
    )


def host_counts(conn: Connection) -> list[tuple[str, str, int]]:
    """(customer, status, count) for /metrics."""
    from sqlalchemy import func

    q = select(hosts.c.customer, hosts.c.status, func.count()).group_by(hosts.c.customer, hosts.c.status)
    return [(r[0], r[1], int(r[2])) for r in conn.execute(q)]


def host_ids_after(conn: Connection, after: str, limit: int) -> list[str]:
    """Up to ``limit`` host ids greater than ``after``, in order (walks the whole inventory in chunks)."""
    q = select(hosts.c.id).where(hosts.c.id > after).order_by(hosts.c.id).limit(limit)
    return list(conn.execute(q).scalars())


# -- store_meta: small numbers every collector process shares ------------------------------------
def get_number(conn: Connection, key: str) -> int:
    v = conn.execute(select(store_meta.c.value).where(store_meta.c.key == key)).scalar()
    return int(v) if v is not None else 0


def set_number(conn: Connection, key: str, value: int) -> None:
    done = conn.execute(update(store_meta).where(store_meta.c.key == key).values(value=value)).rowcount
    if not done:
        conn.execute(insert(store_meta).values(key=key, value=value))


def bump_generation(conn: Connection, key: str) -> None:
    """Increment a generation counter, so every process drops caches keyed on it."""
    done = conn.execute(
        update(store_meta).where(store_meta.c.key == f"{key}_generation").values(value=store_meta.c.value + 1)
    ).rowcount
    if not done:
        conn.execute(insert(store_meta).values(key=f"{key}_generation", value=1))


def token_owners(conn: Connection, limit: int) -> dict[str, str]:
    """Token hash -> host id of hosts that are not revoked (at most ``limit``)."""
    rows = conn.execute(
        select(hosts.c.token_hash, hosts.c.id)
        .where(hosts.c.token_hash.is_not(None), hosts.c.status != "revoked")
        .limit(limit)
    )
    return {r.token_hash: r.id for r in rows}


def valid_tokens(conn: Connection, pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Those (host id, token hash) pairs that still authenticate: the host holds that token
    and is not revoked."""
    ids = sorted({host_id for host_id, _ in pairs})
    rows = conn.execute(
        select(hosts.c.id, hosts.c.token_hash).where(hosts.c.id.in_(ids), hosts.c.status != "revoked")
    )
    return {(r.id, r.token_hash) for r in rows if r.token_hash} & pairs


"""Enrollment: an operator's enrollment token turns an agent into an inventory host.

Enrollment tokens are reusable until they expire (default 24 h), so one token can
enroll a whole rollout; ``once`` makes a token good for a single host. The customer
must exist in the configuration. An agent that enrolls again (same ``agent_id``)
keeps its host and name and gets a new host token, the old one stops working; that
also lifts a revocation, since whoever holds a valid enrollment token may enroll.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Any

from collector.errors import Conflict, InvalidInput, Unauthorized
from collector.services import AppContext
from collector.services.ingest_parse import _AGENT_ID, _check_facts
from collector.store import inventory, tokens

_HOSTNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")


@dataclass(frozen=True)
class Enrolled:
    host: inventory.Host
    host_token: str

    def to_json(self) -> dict[str, Any]:
        return {
            "host_id": self.host.id,
            "host": self.host.name,
            "customer": self.host.customer,
            "host_token": self.host_token,
        }


def create_enrollment_token(
    ctx: AppContext, customer: str, *, expires_in: float, once: bool, now: float
) -> tuple[tokens.EnrollmentToken, str]:
    """A new enrollment token (its secret returned once); the customer must be configured."""
    if ctx.config.customer(customer) is None:
        known = ", ".join(c.name for c in ctx.config.customers) or "none configured"
        raise InvalidInput(f"unknown customer {customer!r} (known: {known})", field="customer")
    if expires_in <= 0:
        raise InvalidInput("must be positive", field="expires")
    with ctx.engine.begin() as conn:
        return tokens.create_enrollment_token(
            conn, customer=customer, expires_at=now + expires_in, once=once, now=now
        )


def enroll(ctx: AppContext, token: str, agent_id: str, facts: dict[str, Any], now: float) -> Enrolled:
    """Register (or re-register) the agent; raises Unauthorized for an unusable token."""
    if not isinstance(agent_id, str) or not _AGENT_ID.fullmatch(agent_id):
        raise InvalidInput("expected 32 lower-case hex characters", field="agent_id")
    if not isinstance(facts, dict):
        raise InvalidInput("expected an object", field="facts")
    _check_facts(facts, "facts", 1)
    wanted = str(facts.get("hostname") or "").strip()
    if not _HOSTNAME.fullmatch(wanted):
        wanted = f"host-{agent_id[:8]}"
    digest = tokens.hash_token(token)
    secret = tokens.new_secret("uph")
    with ctx.engine.begin() as conn:
        hit = tokens.get_enrollment_token_by_hash(conn, digest)
        if hit is None or not hmac.compare_digest(hit[1], digest):
            raise Unauthorized("unknown enrollment token")
        etok = hit[0]
        if etok.revoked_at is not None:
            raise Unauthorized("this enrollment token was revoked")
        if now >= etok.expires_at:
            raise Unauthorized("this enrollment token has expired; create a new one (upkeep enroll create)")
        if ctx.config.customer(etok.customer) is None:
            raise Conflict(f"customer {etok.customer!r} is no longer in the configuration")
        if not tokens.use_enrollment_token(conn, etok.id, etok.once, now):
            raise Unauthorized("this one-time enrollment token was already used")
        existing = inventory.get_host_by_agent(conn, agent_id)
        if existing is not None:
            if existing.customer != etok.customer:
                raise Conflict(
                    f"agent {agent_id} is enrolled for customer {existing.customer}; revoke it there first",
                    allowed=[existing.customer],
                )
            inventory.set_host_token(conn, existing.id, tokens.hash_token(secret), facts, now)
            inventory.bump_generation(conn, "auth")
            host = inventory.get_host(conn, existing.id)
        else:
            name = inventory.unique_host_name(conn, wanted)
            host = inventory.insert_host(
                conn,
                name=name,
                customer=etok.customer,
                agent_id=agent_id,
                facts=facts,
                token_hash=tokens.hash_token(secret),
                now=now,
            )
    assert host is not None
    svc = ctx.areas.get("ingest")
    if svc is not None:
        svc.add_host(host)
    return Enrolled(host, secret)

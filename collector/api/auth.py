"""Who is calling: API tokens with roles and an optional customer scope.

Roles, each including the ones below it::

    admin     manage tokens, enrollment tokens, revoke hosts, everything an engineer can
    engineer  work tickets, run playbooks and inspections, change what they can see
    viewer    read only

A token may be scoped to one customer: it then sees and changes only that
customer's hosts and data, and any other customer's id answers the same 404 as
an id that does not exist (``ensure_visible``). Host tokens (``uph_...``, held by
agents) authenticate only ``POST /api/v1/reports``; here they are unknown (401).

Tokens are stored as their sha256 and compared with ``hmac.compare_digest``. A
revocation (``upkeep tokens revoke``, from any process) bumps the ``auth``
generation in ``store_meta``; every request reads that one number, so a revoked
token fails on its very next request while lookups stay cached otherwise.

Use in a router::

    from collector.api.auth import Principal, ensure_visible, principal, require

    @router.get("/api/v1/tickets/{ticket_id}")
    def show(ticket_id: str, who: Principal = Depends(require("viewer"))) -> dict:
        ticket = ...                       # load it
        ensure_visible(who, ticket.customer, "ticket", ticket_id)   # 404 when out of scope
        ...

    @router.get("/api/v1/tickets")
    def listing(who: Principal = Depends(principal)) -> list:
        customers = who.scope()            # None (all) or a one-customer tuple for the query

``principal`` alone accepts any valid token (viewer and up).
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.engine import Engine

from collector.api.errors import Unauthorized
from collector.errors import Forbidden, NotFound
from collector.store.inventory import get_number
from collector.store.tokens import ROLES, get_api_token_by_hash, hash_token

RANK = {role: i for i, role in enumerate(ROLES)}


@dataclass(frozen=True)
class Principal:
    role: str
    customer: str | None
    token_id: str
    name: str

    def at_least(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]

    def can_see(self, customer: str | None) -> bool:
        """True for an unscoped token, or when ``customer`` is the token's own."""
        return self.customer is None or customer == self.customer

    def scope(self) -> tuple[str, ...] | None:
        """The customers this caller may see: None for all of them."""
        return None if self.customer is None else (self.customer,)


def ensure_visible(who: Principal, customer: str | None, kind: str, ident: object) -> None:
    """Raise the same NotFound as a missing id when ``customer``'s data is outside ``who``'s scope."""
    if not who.can_see(customer):
        raise NotFound(kind, ident)


def bearer(request: Request) -> str:
    return bearer_token(request.headers.get("authorization"))


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; 401 for anything else."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("a bearer token is required (Authorization: Bearer <token>)")
    return token


class TokenCache:
    """Token hash -> Principal, valid while the store's ``auth`` generation does not move."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._gen = -1
        self._entries: dict[str, Principal | None] = {}

    def resolve(self, token: str) -> Principal:
        digest = hash_token(token)
        with self._engine.connect() as conn:
            gen = get_number(conn, "auth_generation")
            with self._lock:
                if gen != self._gen:
                    self._entries.clear()
                    self._gen = gen
                if digest in self._entries:
                    found = self._entries[digest]
                    if found is None:
                        raise Unauthorized("unknown or revoked token")
                    return found
            hit = get_api_token_by_hash(conn, digest)
        who: Principal | None = None
        if hit is not None:
            tok, stored = hit
            if hmac.compare_digest(stored, digest) and tok.revoked_at is None:
                who = Principal(tok.role, tok.customer, tok.id, tok.name)
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            if self._gen == gen:
                self._entries[digest] = who
        if who is None:
            raise Unauthorized("unknown or revoked token")
        return who


def _cache(request: Request) -> TokenCache:
    state = request.app.state
    cache = getattr(state, "token_cache", None)
    if cache is None:
        cache = TokenCache(state.ctx.engine)
        state.token_cache = cache
    return cache


def principal(request: Request) -> Principal:
    """FastAPI dependency: the caller of this request (401 without a valid API token)."""
    return _cache(request).resolve(bearer(request))


def principal_for_token(request: Request, token: str) -> Principal:
    """Who holds ``token`` (an API token from elsewhere than the header, e.g. the console's cookie)."""
    return _cache(request).resolve(token)


def require(role: str) -> Callable[[Request], Principal]:
    """FastAPI dependency factory: the caller, who must hold ``role`` or a higher one (else 403)."""
    if role not in RANK:
        raise ValueError(f"unknown role {role!r}")

    def dependency(request: Request) -> Principal:
        who = principal(request)
        if not who.at_least(role):
            raise Forbidden(f"this needs the {role} role; the token has {who.role}")
        return who

    return dependency

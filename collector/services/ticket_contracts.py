"""Turns the configured contracts and engineers into the pure core's objects.

``Contracts`` answers, per customer: its service window (with the country's public
holidays), the business-time length of each target, the at-risk share and the
escalation chain. ``Directory`` is the engineers: those of the configuration plus
those added through the API (stored), as ``collector.core.dispatch.Engineer`` values.
"""

from __future__ import annotations

import functools
from collections.abc import Container
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import holidays as holidays_pkg
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from collector.config import CollectorConfig
from collector.config.contracts import WEEKDAYS, ContractConfig, CustomerConfig, EngineerConfig
from collector.config.contracts import Shift as ShiftConfig
from collector.core.dispatch import Engineer, Shift
from collector.core.sla import ServiceWindow
from collector.errors import Conflict, InvalidInput, NotFound
from collector.store import tickets as store

KINDS = ("response", "resolution", "onsite")


def _hm(text: str) -> time:
    h, m = text.split(":")
    return time(int(h), int(m))


class _Closed:
    """Public holidays of a country (computed lazily per year) plus extra closed days."""

    def __init__(self, country: str | None, subdivision: str | None, extra: tuple[date, ...]) -> None:
        self._days = frozenset(extra)
        self._holidays = holidays_pkg.country_holidays(country, subdiv=subdivision) if country else None

    def __contains__(self, d: object) -> bool:
        if d in self._days:
            return True
        return self._holidays is not None and d in self._holidays

    def __len__(self) -> int:
        return len(self._days) + (1 if self._holidays is not None else 0)


class Contracts:
    def __init__(self, config: CollectorConfig) -> None:
        self._customers = {c.name: c for c in config.customers}
        self._default = CustomerConfig(name="default")

    def known(self, customer: str) -> bool:
        return customer in self._customers

    def customer(self, name: str) -> CustomerConfig:
        """The customer's configuration; a customer without one gets the default contract (7x24)."""
        return self._customers.get(name) or self._default.model_copy(update={"name": name})

    def contract(self, customer: str) -> ContractConfig:
        return self.customer(customer).contract

    def names(self) -> list[str]:
        return sorted(self._customers)

    @functools.lru_cache(maxsize=256)  # noqa: B019 (one instance per process, customers are few)
    def window(self, customer: str) -> ServiceWindow:
        c = self.customer(customer)
        hours = c.contract.business_hours
        if hours is None:
            return ServiceWindow.always()
        closed: Container[date] = _Closed(
            c.contract.holidays, c.contract.holiday_subdivision, c.contract.closed_days
        )
        return ServiceWindow(
            tz=ZoneInfo(c.window_timezone),
            days=frozenset(WEEKDAYS.index(d) for d in hours.days),
            start=_hm(hours.start),
            end=_hm(hours.end),
            closed=closed,
            working=frozenset(c.contract.working_days),
        )

    def target_seconds(self, customer: str, priority: str, kind: str) -> float:
        span = getattr(self.contract(customer).target(priority), kind)
        return float(span.total(self.window(customer).day_seconds))


def _shift(s: ShiftConfig) -> Shift:
    return Shift(frozenset(WEEKDAYS.index(d) for d in s.days), _hm(s.start), _hm(s.end))


def engineer_of(cfg: EngineerConfig, *, active: bool = True) -> Engineer:
    return Engineer(
        name=cfg.name,
        role=cfg.role,
        skills=frozenset(cfg.skills),
        customers=frozenset(cfg.customers),
        regions=frozenset(cfg.regions),
        shifts=tuple(_shift(s) for s in cfg.shifts),
        on_call=tuple(_shift(s) for s in cfg.on_call),
        tz=ZoneInfo(cfg.rota_timezone),
        max_concurrent=cfg.max_concurrent,
        active=active,
    )


class Directory:
    """The engineers: configured ones (read-only) and ones added through the API (stored)."""

    def __init__(self, config: CollectorConfig) -> None:
        self._config = {e.name: e for e in config.engineers}

    def all(self, conn: Connection) -> dict[str, EngineerConfig]:
        out = dict(self._config)
        for m in conn.execute(select(store.engineers)).mappings():
            if m["name"] not in out and m["active"]:
                out[m["name"]] = EngineerConfig.model_validate(m["spec"])
        return out

    def get(self, conn: Connection, name: str) -> EngineerConfig:
        found = self.all(conn).get(name)
        if found is None:
            raise NotFound("engineer", name)
        return found

    def exists(self, conn: Connection, name: str) -> bool:
        return name in self.all(conn)

    def candidates(self, conn: Connection) -> list[Engineer]:
        return [engineer_of(e) for e in self.all(conn).values()]

    def with_role(self, conn: Connection, role: str, customer: str) -> list[EngineerConfig]:
        return [
            e
            for e in self.all(conn).values()
            if e.role == role and (not e.customers or customer in e.customers)
        ]

    def last_assigned(self, conn: Connection) -> dict[str, datetime]:
        from datetime import UTC

        rows = conn.execute(select(store.engineers.c.name, store.engineers.c.last_assigned_at))
        return {n: datetime.fromtimestamp(t, UTC) for n, t in rows if t is not None}

    def touch(self, conn: Connection, name: str, now: float) -> None:
        """Remember when ``name`` was last given a ticket (the round robin's memory)."""
        done = conn.execute(
            update(store.engineers).where(store.engineers.c.name == name).values(last_assigned_at=now)
        ).rowcount
        if not done:
            conn.execute(
                insert(store.engineers).values(
                    name=name, spec={}, active=False, from_config=True, last_assigned_at=now
                )
            )

    def add(self, conn: Connection, spec: dict[str, Any]) -> EngineerConfig:
        """Add (or replace) an engineer through the API; configured engineers cannot be changed here."""
        from pydantic import ValidationError

        try:
            eng = EngineerConfig.model_validate(spec)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise InvalidInput(str(err["msg"]), field=".".join(str(p) for p in err["loc"])) from None
        if eng.name in self._config:
            raise Conflict(f"engineer {eng.name} is defined in the configuration; change it there")
        row = (
            conn.execute(select(store.engineers).where(store.engineers.c.name == eng.name)).mappings().first()
        )
        data = eng.model_dump(mode="json")
        if row is None:
            conn.execute(
                insert(store.engineers).values(name=eng.name, spec=data, active=True, from_config=False)
            )
        else:
            conn.execute(
                update(store.engineers)
                .where(store.engineers.c.name == eng.name)
                .values(spec=data, active=True)
            )
        return eng

    def remove(self, conn: Connection, name: str) -> None:
        if name in self._config:
            raise Conflict(f"engineer {name} is defined in the configuration; remove it there")
        done = conn.execute(
            update(store.engineers)
            .where(store.engineers.c.name == name, store.engineers.c.active.is_(True))
            .values(active=False)
        ).rowcount
        if not done:
            raise NotFound("engineer", name)

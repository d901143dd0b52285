"""Customers, their contracts, engineers and ticket settings.

The defaults are the promises of the contract text (seeds/): a first response within
10 minutes for critical and major faults and 30 minutes otherwise, a general fault
restored within 1 hour and a major one within 1 business day, on-site arrival within
2 hours, 5x8 meaning Monday to Friday 09:30-19:30 in the customer's time zone.
Every duration of a target is *business time* of the customer's service window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field, field_validator, model_validator

from collector.config.types import Duration, Section, parse_duration

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PRIORITIES = ("critical", "major", "normal", "low")
Priority = Literal["critical", "major", "normal", "low"]
Role = Literal["engineer", "lead", "expert", "manager"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _slug(v: str) -> str:
    if not _SLUG.match(v):
        raise ValueError("must be lower-case letters, digits, - or _ (e.g. acme)")
    return v


def _tz(v: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {v!r}") from None
    return v


def _clock(v: object) -> str:
    # YAML 1.1 reads an unquoted 09:30 as the sexagesimal number 570; take it back.
    if isinstance(v, int) and not isinstance(v, bool):
        v = f"{v // 60:02d}:{v % 60:02d}"
    if not isinstance(v, str) or not _CLOCK.match(v):
        raise ValueError(f"{v!r} is not a time of day like 09:30")
    return v


ClockTime = Annotated[str, BeforeValidator(_clock)]
TimeZoneName = Annotated[str, BeforeValidator(_tz)]
Slug = Annotated[str, BeforeValidator(_slug)]


@dataclass(frozen=True)
class Span:
    """A target's length: business seconds plus whole business days (a day = the window's daily hours)."""

    seconds: float = 0.0
    business_days: float = 0.0

    def total(self, day_seconds: float) -> float:
        """Business seconds, given the length of one business day of the window."""
        return self.seconds + self.business_days * day_seconds


def parse_span(value: object) -> Span:
    """'10m', '1h', '1bd' (one business day), '2bd4h' or a number of seconds -> Span."""
    if isinstance(value, Span):
        return value
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)bd(.*)", value)
        if m:
            rest = m.group(2).strip()
            return Span(parse_duration(rest) if rest else 0.0, float(m.group(1)))
    return Span(parse_duration(value), 0.0)


BusinessSpan = Annotated[Span, BeforeValidator(parse_span)]


class BusinessHours(Section):
    """Service hours on the named days, e.g. 5x8: Mon-Fri 09:30-19:30."""

    days: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")
    start: ClockTime = "09:30"
    end: ClockTime = "19:30"
    # None means the customer's time zone.
    timezone: TimeZoneName | None = None

    @model_validator(mode="after")
    def _order(self) -> BusinessHours:
        if self.end <= self.start:
            raise ValueError("end must be later than start (business hours do not cross midnight)")
        if not self.days:
            raise ValueError("days: at least one day is needed")
        return self


class TargetConfig(Section):
    """The promises for one priority, in business time of the service window."""

    response: BusinessSpan = Span(1800.0)
    resolution: BusinessSpan = Span(3600.0)
    onsite: BusinessSpan = Span(7200.0)


def _default_targets() -> dict[str, TargetConfig]:
    return {
        "critical": TargetConfig(response=Span(600.0), resolution=Span(0.0, 1.0)),
        "major": TargetConfig(response=Span(600.0), resolution=Span(0.0, 1.0)),
        "normal": TargetConfig(),
        "low": TargetConfig(),
    }


class EscalationLevel(Section):
    """One step of the escalation chain: who is told once a deadline has been missed by ``after``."""

    name: str
    deadline: Literal["response", "resolution"] = "resolution"
    after: Duration = 0.0
    engineers: tuple[str, ...] = ()
    roles: tuple[Role, ...] = ()

    @model_validator(mode="after")
    def _someone(self) -> EscalationLevel:
        if not self.engineers and not self.roles:
            raise ValueError("an escalation level names engineers or roles")
        return self


def _default_chain() -> tuple[EscalationLevel, ...]:
    return (
        EscalationLevel(name="lead", deadline="response", roles=("lead",)),
        EscalationLevel(name="expert", deadline="resolution", roles=("expert",)),
        EscalationLevel(name="manager", deadline="resolution", after=4 * 3600.0, roles=("manager",)),
    )


class ContractConfig(Section):
    """A customer's service contract: window, targets, escalation, warranty and inspections."""

    window: Literal["7x24", "5x8"] | BusinessHours = "7x24"
    # A country code of the holidays package (e.g. CN, DE, US) whose public holidays are closed.
    holidays: str | None = None
    holiday_subdivision: str | None = None
    closed_days: tuple[date, ...] = ()
    # Days that are worked although they fall on a weekend (e.g. China's adjusted working days).
    working_days: tuple[date, ...] = ()
    targets: dict[Priority, TargetConfig] = Field(default_factory=_default_targets)
    escalation: tuple[EscalationLevel, ...] = Field(default_factory=_default_chain)
    at_risk: float = Field(default=0.8, gt=0.0, lt=1.0)
    starts: date | None = None
    warranty_end: date | None = None
    support_end: date | None = None
    renewal_reminders_days: tuple[int, ...] = (30, 7)
    inspection_cron: str = "0 2 1 * *"
    report_cron: str = "0 6 1 * *"
    remote_diagnosis: bool = False
    onsite: bool = True
    team_lead: str | None = None
    severity_priority: dict[str, Priority] = Field(
        default_factory=lambda: {"critical": "critical", "major": "major", "warning": "normal", "info": "low"}
    )
    urgency_priority: dict[str, Priority] = Field(
        default_factory=lambda: {
            "critical": "critical", "urgent": "critical", "major": "major", "high": "major",
            "normal": "normal", "medium": "normal", "low": "low",
        }
    )

    @field_validator("holidays")
    @classmethod
    def _country(cls, v: str | None) -> str | None:
        if v is None:
            return v
        import holidays as holidays_pkg

        if v.upper() not in holidays_pkg.list_supported_countries():
            raise ValueError(f"{v!r} is not a country code the holidays package knows (e.g. CN, DE)")
        return v.upper()

    @model_validator(mode="after")
    def _complete(self) -> ContractConfig:
        # A contract that names some priorities keeps the defaults for the others.
        defaults = _default_targets()
        missing = {p: defaults[p] for p in PRIORITIES if p not in self.targets}
        if missing:
            object.__setattr__(self, "targets", {**missing, **self.targets})
        if self.starts is not None:
            if self.warranty_end is None:
                object.__setattr__(self, "warranty_end", _add_years(self.starts, 1))
            if self.support_end is None:
                object.__setattr__(self, "support_end", _add_years(self.starts, 2))
        return self

    @property
    def business_hours(self) -> BusinessHours | None:
        """The business hours, or None for 7x24."""
        if self.window == "7x24":
            return None
        if self.window == "5x8":
            return BusinessHours()
        assert isinstance(self.window, BusinessHours)
        return self.window

    def target(self, priority: str) -> TargetConfig:
        return self.targets.get(priority, TargetConfig())  # type: ignore[call-overload]

    def priority_for_severity(self, severity: str | None) -> str:
        return self.severity_priority.get((severity or "").lower(), "normal")

    def priority_for_urgency(self, urgency: str | None) -> str | None:
        """The priority of a request's urgency, or None when the word is unknown."""
        return self.urgency_priority.get((urgency or "normal").lower())


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


class ContactConfig(Section):
    name: str
    phone: str = ""
    email: str = ""
    role: str = ""


class CustomerConfig(Section):
    name: str
    display_name: str = ""
    timezone: str = "UTC"
    contract: ContractConfig = ContractConfig()
    region: str = ""
    # Hosts covered by the contract, by name, and by labels every covered host carries.
    hosts: tuple[str, ...] = ()
    labels: dict[str, str] = Field(default_factory=dict)
    contacts: tuple[ContactConfig, ...] = ()

    @field_validator("name")
    @classmethod
    def _slug(cls, v: str) -> str:
        return _slug(v)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return _tz(v)

    @property
    def window_timezone(self) -> str:
        hours = self.contract.business_hours
        return (hours.timezone if hours and hours.timezone else None) or self.timezone


class Shift(Section):
    """A weekly shift; ``end`` earlier than ``start`` runs past midnight into the next day."""

    days: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")
    start: ClockTime = "09:00"
    end: ClockTime = "18:00"


class EngineerConfig(Section):
    name: str
    display_name: str = ""
    email: str = ""
    phone: str = ""
    role: Role = "engineer"
    skills: tuple[str, ...] = ()
    # Customers and regions served; empty means any.
    customers: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    # On duty during these shifts (none: always on duty) and reachable on call during ``on_call``.
    shifts: tuple[Shift, ...] = ()
    on_call: tuple[Shift, ...] = ()
    rota_timezone: TimeZoneName = "UTC"
    max_concurrent: int = Field(default=5, ge=1)

    @field_validator("name")
    @classmethod
    def _slug(cls, v: str) -> str:
        return _slug(v)


class FlapConfig(Section):
    """Nagios-style flap detection over the last ``history`` state changes, with hysteresis."""

    history: int = Field(default=21, ge=3, le=100)
    high: float = Field(default=0.20, gt=0.0, le=1.0)
    low: float = Field(default=0.05, ge=0.0, le=1.0)
    # Only state changes this recent count.
    window: Duration = 3600.0

    @model_validator(mode="after")
    def _hysteresis(self) -> FlapConfig:
        if self.low >= self.high:
            raise ValueError("low must be below high")
        return self


class TicketsConfig(Section):
    number_prefix: str = Field(default="T", pattern=r"^[A-Z][A-Z0-9]{0,7}$")
    # A re-firing alert reopens its resolved ticket within this time instead of opening another.
    reopen_window: Duration = 24 * 3600.0
    # A ticket whose alert recovered and stayed quiet this long resolves itself (0 = never).
    auto_resolve_quiet: Duration = 3600.0
    survey_timeout_days: int = Field(default=7, ge=1)
    survey_link_ttl: Duration = 14 * 86400.0
    satisfied_rating: int = Field(default=3, ge=1, le=5)
    reopen_rating: int = Field(default=2, ge=1, le=5)
    knowledge_path: Path | None = None
    flap: FlapConfig = FlapConfig()
    auto_assign: bool = True
    sweep_interval: Duration = 30.0
    # Run an alert's ``playbook`` annotation when its ticket opens (if the diagnosis area allows).
    diagnose_on_open: bool = True

"""Customers, their contracts, engineers and ticket settings."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator

from collector.config.types import Section

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class ContractConfig(Section):
    pass


class CustomerConfig(Section):
    name: str
    display_name: str = ""
    timezone: str = "UTC"
    contract: ContractConfig = ContractConfig()

    @field_validator("name")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not _SLUG.match(v):
            raise ValueError("must be lower-case letters, digits, - or _ (e.g. acme)")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v


class EngineerConfig(Section):
    name: str
    display_name: str = ""
    email: str = ""


class TicketsConfig(Section):
    pass

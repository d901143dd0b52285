"""The scheduler section; filled by the scheduled-work issue."""

from __future__ import annotations

from collector.config.types import Section


class ScheduleConfig(Section):
    pass

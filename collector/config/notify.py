"""The notifications section (webhook and e-mail); filled by the tickets work."""

from __future__ import annotations

from collector.config.types import Section


class NotificationsConfig(Section):
    pass

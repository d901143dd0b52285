"""The alerting section: where rule files are and how often they are evaluated."""

from __future__ import annotations

from pathlib import Path

from collector.config.types import Duration, Section


class AlertingConfig(Section):
    # Extra rule files or folders; the shipped rules/ pack is loaded unless disabled.
    rule_paths: tuple[Path, ...] = ()
    shipped_rules: bool = True
    interval: Duration = 15.0
    lookback: Duration = 300.0

"""The alerting section: where rule files are and how often they are evaluated.

``rule_paths`` are files or folders (every ``*.yml``/``*.yaml`` in a folder, not its ``tests/``);
the shipped pack (``rules/``) is loaded first unless ``shipped_rules`` is false. ``interval`` is
the default group interval (a group's own ``interval:`` wins); ``lookback`` is how far back an
instant selector looks for a sample (Prometheus' 5 minutes). ``external_labels`` and
``external_url`` are what templates see as ``$externalLabels`` and ``$externalURL``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from collector.config.types import Duration, Section


class AlertingConfig(Section):
    # Extra rule files or folders; the shipped rules/ pack is loaded unless disabled.
    rule_paths: tuple[Path, ...] = ()
    shipped_rules: bool = True
    interval: Duration = 15.0
    lookback: Duration = 300.0
    external_labels: dict[str, str] = Field(default_factory=dict)
    external_url: str = ""

    @field_validator("interval", "lookback")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be more than 0s")
        return v

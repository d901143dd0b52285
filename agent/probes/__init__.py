"""Host probes: node_exporter's series for the same figures, read through psutil.

Each module exposes ``collect(out, ...)`` that appends ``Sample``s to ``out``. Names,
labels and units are node_exporter's (``node_*``); series only upkeep has start ``upkeep_``.
"""

from __future__ import annotations

import re
import time
from typing import NamedTuple

from agent.config import ProbeConfig


class Sample(NamedTuple):
    """One value of one series: a Prometheus-style name, its labels and a finite float."""

    name: str
    labels: dict[str, str]
    value: float


class HostProbes:
    """Every probe family, configured once; ``collect()`` reads the host once per call."""

    def __init__(self, cfg: ProbeConfig) -> None:
        from agent.probes.filesystem import FilesystemProbe

        self._filesystems = FilesystemProbe(
            re.compile(cfg.mount_points_exclude), re.compile(cfg.fs_types_exclude), cfg.filesystem_timeout
        )
        self._disk_exclude = re.compile(cfg.disk_device_exclude)
        self._netdev_exclude = re.compile(cfg.netdev_device_exclude)

    def collect(self) -> list[Sample]:
        """All node_* and upkeep_ host series at this moment; a failing family is left out, not fatal."""
        from agent.probes import cpu, disk, memory, network, system, temperature

        out: list[Sample] = []
        cpu.collect(out)
        memory.collect(out)
        self._filesystems.collect(out)
        disk.collect(out, self._disk_exclude)
        network.collect(out, self._netdev_exclude)
        system.collect(out, time.time())
        temperature.collect(out)
        return out

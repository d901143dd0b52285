"""Host probes: node_exporter's series for the same figures, from /proc on Linux (psutil elsewhere).

Each module exposes ``collect(out, ...)`` that appends ``Sample``s to ``out``. Names,
labels and units are node_exporter's (``node_*``); series only upkeep has start ``upkeep_``.
"""

from __future__ import annotations

import re
import time
from collections import namedtuple

from agent.log import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from agent.config import ProbeConfig

log = get_logger("upkeep.agent.probes")


class Sample(namedtuple("Sample", "name labels value")):
    """One value of one series: a Prometheus-style name, its labels and a finite float."""

    __slots__ = ()
    name: str
    labels: dict[str, str]
    value: float


class HostProbes:
    """Every probe family, configured once; ``collect()`` reads the host once per call."""

    def __init__(self, cfg: ProbeConfig) -> None:
        from agent.probes import cpu, disk, memory, network, system, temperature
        from agent.probes.filesystem import FilesystemProbe

        filesystems = FilesystemProbe(
            re.compile(cfg.mount_points_exclude), re.compile(cfg.fs_types_exclude), cfg.filesystem_timeout
        )
        disk_exclude = re.compile(cfg.disk_device_exclude)
        netdev_exclude = re.compile(cfg.netdev_device_exclude)
        self._families: list[tuple[str, Callable[[list[Sample]], None]]] = [
            ("cpu", cpu.collect),
            ("memory", memory.collect),
            ("filesystem", filesystems.collect),
            ("disk", lambda out: disk.collect(out, disk_exclude)),
            ("network", lambda out: network.collect(out, netdev_exclude)),
            ("system", lambda out: system.collect(out, time.time())),
            ("temperature", temperature.collect),
        ]
        self._failing: set[str] = set()

    def collect(self) -> list[Sample]:
        """All node_* and upkeep_ host series at this moment; a failing family is left out, not fatal.

        Customer hosts are varied (containers, old kernels, odd /proc files): one family that
        cannot be read must not cost the others, nor the checks. Its failure is logged once,
        and its recovery too.
        """
        out: list[Sample] = []
        for name, collect in self._families:
            mark = len(out)
            try:
                collect(out)
            except Exception:
                del out[mark:]
                if name not in self._failing:
                    self._failing.add(name)
                    log.exception("probe %s failed; its series are left out until it recovers", name)
                continue
            if name in self._failing:
                self._failing.discard(name)
                log.info("probe %s recovered", name)
        return out

"""Memory and swap: node_memory_<Field>_bytes for the /proc/meminfo fields operators read most.

On Linux the figures come straight from /proc/meminfo, like node_exporter's: psutil folds
SReclaimable into ``cached`` (to match free(1)), which would make ``Cached`` disagree.
"""

from __future__ import annotations

from agent.probes import Sample
from agent.procfs import LINUX

FIELDS = ("MemTotal", "MemAvailable", "MemFree", "Buffers", "Cached", "SwapTotal", "SwapFree")
_WANTED = frozenset(FIELDS)


def _from_meminfo() -> dict[str, float] | None:
    try:
        with open("/proc/meminfo", "rb") as f:
            text = f.read().decode("ascii", "replace")
    except OSError:
        return None
    found: dict[str, float] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in _WANTED:
            parts = rest.split()
            value = float(parts[0])
            found[key] = value * 1024 if len(parts) > 1 and parts[1] == "kB" else value
    return found


def _from_psutil() -> dict[str, float]:
    import psutil

    vm = psutil.virtual_memory()
    sw = psutil.swap_memory()
    found = {"MemTotal": vm.total, "MemAvailable": vm.available, "MemFree": vm.free,
             "SwapTotal": sw.total, "SwapFree": sw.free}
    for key, attr in (("Buffers", "buffers"), ("Cached", "cached")):
        if hasattr(vm, attr):
            found[key] = getattr(vm, attr)
    return {k: float(v) for k, v in found.items()}


def collect(out: list[Sample]) -> None:
    values = _from_meminfo() if LINUX else None
    if values is None:
        values = _from_psutil()
    for key in FIELDS:
        if key in values:
            out.append(Sample(f"node_memory_{key}_bytes", {}, values[key]))

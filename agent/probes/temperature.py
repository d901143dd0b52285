"""Temperatures: node_hwmon_temp_celsius{chip,sensor} and node_thermal_zone_temp{type,zone}.

On Linux the hwmon and thermal-zone files are read the way node_exporter reads them, so the
``chip`` label (bus type and device, e.g. ``platform_coretemp_0``) matches its series. Elsewhere
psutil's sensors are reported under the same name with psutil's chip and label names.
"""

from __future__ import annotations

import os
import re
import time

from agent.probes import Sample
from agent.procfs import LINUX

_HWMON = "/sys/class/hwmon"
_THERMAL = "/sys/class/thermal"
_UNCLEAN = re.compile(r"[^a-z0-9:_]+")


def _clean(name: str) -> str:
    return _UNCLEAN.sub("_", name.strip().lower()).strip("_")


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def _chip(hwmon_dir: str) -> str:
    device = os.path.join(hwmon_dir, "device")
    if os.path.exists(device):
        real = os.path.realpath(device)
        parent, dev_name = os.path.split(real)
        dev_type = os.path.basename(parent)
        return f"{_clean(dev_type)}_{_clean(dev_name)}"
    return _clean(_read(os.path.join(hwmon_dir, "name")) or os.path.basename(hwmon_dir))


def _discover() -> list[tuple[str, dict[str, str]]]:
    """Every temperature file with its series name and labels."""
    found: list[tuple[str, dict[str, str]]] = []
    try:
        hwmons = sorted(os.listdir(_HWMON))
    except OSError:
        hwmons = []
    for entry in hwmons:
        d = os.path.join(_HWMON, entry)
        try:
            files = sorted(f for f in os.listdir(d) if f.startswith("temp") and f.endswith("_input"))
        except OSError:
            continue
        if files:
            chip = _chip(d)
            found += [(os.path.join(d, f), {"chip": chip, "sensor": f[: -len("_input")]}) for f in files]
    try:
        zones = sorted(z for z in os.listdir(_THERMAL) if z.startswith("thermal_zone"))
    except OSError:
        zones = []
    for z in zones:
        kind = _read(os.path.join(_THERMAL, z, "type"))
        if kind is not None:
            found.append((os.path.join(_THERMAL, z, "temp"), {"type": kind, "zone": z[len("thermal_zone"):]}))
    return found


# Sensors come and go only with hardware or drivers: the directories are listed again this often.
REDISCOVER = 600.0
_sensors: list[tuple[str, dict[str, str]]] | None = None
_found_at = 0.0


def _linux(out: list[Sample]) -> None:
    global _sensors, _found_at
    now = time.monotonic()
    if _sensors is None or now - _found_at > REDISCOVER:
        _sensors, _found_at = _discover(), now
    for path, labels in _sensors:
        raw = _read(path)
        if raw is None or not raw.lstrip("-").isdigit():
            continue
        name = "node_thermal_zone_temp" if "zone" in labels else "node_hwmon_temp_celsius"
        out.append(Sample(name, labels, int(raw) / 1000.0))


def collect(out: list[Sample]) -> None:
    if LINUX:
        _linux(out)
        return
    import psutil

    read = getattr(psutil, "sensors_temperatures", None)
    if read is None:
        return
    for chip, entries in (read() or {}).items():
        for i, e in enumerate(entries):
            out.append(Sample("node_hwmon_temp_celsius",
                              {"chip": _clean(chip), "sensor": _clean(e.label) or f"temp{i + 1}"},
                              float(e.current)))

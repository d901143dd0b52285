"""The agent's series against Debian's prometheus-node-exporter scraped on this machine, in the same test.

Same names and label sets for every family the agent reports under node_exporter's names;
values that agree: filesystem sizes to the byte, memory within 2 %, boot time within 2 s.
"""

from __future__ import annotations

import subprocess
import time
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.config import ProbeConfig
from agent.probes import HostProbes
from tests.support import free_port, require_binary

pytestmark = pytest.mark.node_exporter

Series = dict[str, dict[frozenset[tuple[str, str]], float]]

FAMILIES = [
    "node_cpu_seconds_total", "node_load1", "node_load5", "node_load15",
    *(f"node_memory_{f}_bytes" for f in ("MemTotal", "MemAvailable", "MemFree", "Buffers", "Cached",
                                         "SwapTotal", "SwapFree")),
    "node_filesystem_size_bytes", "node_filesystem_free_bytes", "node_filesystem_avail_bytes",
    "node_filesystem_files", "node_filesystem_files_free", "node_filesystem_readonly",
    "node_filesystem_device_error",
    "node_disk_reads_completed_total", "node_disk_writes_completed_total", "node_disk_read_bytes_total",
    "node_disk_written_bytes_total", "node_disk_io_time_seconds_total", "node_disk_read_time_seconds_total",
    "node_disk_write_time_seconds_total",
    *(f"node_network_{d}_{w}_total" for d in ("receive", "transmit")
      for w in ("bytes", "packets", "errs", "drop")),
    "node_boot_time_seconds", "node_time_seconds", "node_uname_info",
    "node_procs_running", "node_procs_blocked",
]
# Present on a host only where sensors exist; compared when node_exporter reports them.
OPTIONAL = ["node_hwmon_temp_celsius", "node_thermal_zone_temp"]


@pytest.fixture(scope="module")
def node_exporter_url() -> Iterator[str]:
    binary = require_binary("prometheus-node-exporter", "/usr/bin/prometheus-node-exporter")
    port = free_port()
    proc = subprocess.Popen([binary, f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(url, timeout=5):
                    break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail("node_exporter exited at start")
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _scrape(url: str) -> Series:
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    out: Series = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, {})[frozenset(s.labels.items())] = s.value
    return out


def _agent() -> Series:
    out: Series = {}
    for s in HostProbes(ProbeConfig()).collect():
        out.setdefault(s.name, {})[frozenset(s.labels.items())] = s.value
    return out


@pytest.fixture(scope="module")
def both(node_exporter_url: str) -> tuple[Series, Series]:
    theirs = _scrape(node_exporter_url)
    ours = _agent()
    return theirs, ours


@pytest.mark.parametrize("name", FAMILIES)
def test_same_names_and_label_sets(both: tuple[Series, Series], name: str) -> None:
    theirs, ours = both
    assert name in theirs, f"node_exporter has no {name} on this host"
    assert name in ours, f"the agent does not report {name}"
    assert set(ours[name]) == set(theirs[name])


@pytest.mark.parametrize("name", OPTIONAL)
def test_sensor_families_match_where_present(both: tuple[Series, Series], name: str) -> None:
    theirs, ours = both
    assert set(ours.get(name, {})) == set(theirs.get(name, {}))


@pytest.mark.parametrize("name", ["node_filesystem_size_bytes", "node_filesystem_files"])
def test_filesystem_sizes_agree_exactly(both: tuple[Series, Series], name: str) -> None:
    theirs, ours = both
    assert theirs[name]
    assert ours[name] == theirs[name]


@pytest.mark.parametrize("name", ["node_filesystem_readonly", "node_filesystem_device_error"])
def test_filesystem_flags_agree(both: tuple[Series, Series], name: str) -> None:
    theirs, ours = both
    assert ours[name] == theirs[name]


@pytest.mark.parametrize("name", ["node_filesystem_avail_bytes", "node_filesystem_free_bytes",
                                  "node_filesystem_files_free"])
def test_filesystem_free_space_agrees(both: tuple[Series, Series], name: str) -> None:
    theirs, ours = both
    for labels, v in theirs[name].items():
        # Other work on this machine writes files between the scrape and our read.
        assert ours[name][labels] == pytest.approx(v, rel=0.01), dict(labels)


@pytest.mark.parametrize("field", ["MemTotal", "MemAvailable", "MemFree", "Buffers", "Cached",
                                   "SwapTotal", "SwapFree"])
def test_memory_within_two_percent(both: tuple[Series, Series], field: str) -> None:
    theirs, ours = both
    name = f"node_memory_{field}_bytes"
    (v,) = theirs[name].values()
    (mine,) = ours[name].values()
    # 2 %, or 4 MiB for the small figures (Buffers) that move by a page or two between reads.
    assert mine == pytest.approx(v, rel=0.02, abs=4 * 2**20)


def test_boot_time_within_two_seconds(both: tuple[Series, Series]) -> None:
    theirs, ours = both
    (v,) = theirs["node_boot_time_seconds"].values()
    (mine,) = ours["node_boot_time_seconds"].values()
    assert abs(mine - v) <= 2


def test_counters_agree(both: tuple[Series, Series]) -> None:
    """Counters read a moment later are the same or slightly larger, never smaller."""
    theirs, ours = both
    # Allowances for what the other work on this machine can add in the moment between the reads.
    slack = {"node_cpu_seconds_total": 30.0, "node_network_receive_bytes_total": 50e6,
             "node_disk_reads_completed_total": 10_000.0}
    for name, allowed in slack.items():
        for labels, v in theirs[name].items():
            assert v <= ours[name][labels] <= v + allowed, (name, dict(labels))


def test_uname_and_clock(both: tuple[Series, Series]) -> None:
    theirs, ours = both
    assert set(ours["node_uname_info"]) == set(theirs["node_uname_info"])
    (t,) = theirs["node_time_seconds"].values()
    (mine,) = ours["node_time_seconds"].values()
    assert abs(mine - t) < 30

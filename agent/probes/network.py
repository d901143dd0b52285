"""Network per interface, as node_exporter's netdev collector names it (lo excluded by default)."""

from __future__ import annotations

from agent.probes import Sample
from agent.procfs import net_io

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re

_FIELDS = (
    ("node_network_receive_bytes_total", "bytes_recv"),
    ("node_network_transmit_bytes_total", "bytes_sent"),
    ("node_network_receive_packets_total", "packets_recv"),
    ("node_network_transmit_packets_total", "packets_sent"),
    ("node_network_receive_errs_total", "errin"),
    ("node_network_transmit_errs_total", "errout"),
    ("node_network_receive_drop_total", "dropin"),
    ("node_network_transmit_drop_total", "dropout"),
)


def collect(out: list[Sample], exclude: re.Pattern[str]) -> None:
    for device, c in net_io().items():
        if exclude.search(device):
            continue
        lb = {"device": device}
        for name, key in _FIELDS:
            out.append(Sample(name, lb, float(c[key])))

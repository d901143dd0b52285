"""`upkeep-agent run`: collect at the interval, spool, push, serve /metrics; stop cleanly on SIGTERM.

Collections follow a fixed schedule (no drift from how long one takes) shifted by a random
share of the interval (``jitter``), so a fleet restarted together does not push together.
"""

from __future__ import annotations

import random
import signal
import threading
import time

from agent.checks.runner import CheckRunner
from agent.collection import Collection
from agent.errors import ConfigError
from agent.log import get_logger
from agent.probes import Sample
from agent.report import encode_report
from agent.shipper import Shipper
from agent.spool import Spool
from agent.state import AgentState
from agent.transport import CollectorEndpoint

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from agent.config import AgentConfig

log = get_logger("upkeep.agent")


class Agent:
    """The running agent's parts, wired from one config and one state directory."""

    def __init__(self, cfg: AgentConfig) -> None:
        self.cfg = cfg
        self.state = AgentState(cfg.state_dir)
        self.agent_id = self.state.agent_id
        self.spool = Spool(self.state.subdir("spool"), cfg.spool.max_bytes, cfg.spool.max_age)
        # Reports that outlived the bound while the agent was stopped go before any is sent.
        self.spool.enforce(time.time())
        url = cfg.collector.url or self.state.collector_url
        self.shipper: Shipper | None = None
        if url:
            endpoint = CollectorEndpoint(url, cfg.collector)
            rejected = self.state.subdir("rejected")
            self.shipper = Shipper(self.spool, endpoint, lambda: self.state.token, rejected,
                                   batch_max_reports=cfg.collector.batch_max_reports,
                                   batch_max_bytes=cfg.collector.batch_max_bytes)
            if self.state.token is None:
                raise ConfigError("collector", f"this host is not enrolled (no token in {cfg.state_dir}): "
                                               "run `upkeep-agent enroll URL TOKEN` first")
        elif cfg.metrics_listen is None:
            raise ConfigError("collector.url", "not set, the agent is not enrolled and /metrics is off: "
                                               "there is nowhere for reports to go")
        runner = CheckRunner(cfg.checks, self.state.subdir("logfile"))
        self.collection = Collection(cfg, self.agent_id, runner, self.own_samples)
        self.latest: Any = None

    def own_samples(self) -> list[Sample]:
        out = [
            Sample("upkeep_agent_spool_reports", {}, float(self.spool.reports)),
            Sample("upkeep_agent_spool_bytes", {}, float(self.spool.bytes)),
            Sample("upkeep_agent_spool_dropped_total", {}, float(self.spool.dropped_total)),
        ]
        failures = self.shipper.push_failures_total if self.shipper else 0
        out.append(Sample("upkeep_agent_push_failures_total", {}, float(failures)))
        return out

    def cycle(self) -> int:
        """Collect one report and spool it durably; the shipper is woken to send it. Returns its seq."""
        seq = self.state.next_seq()
        report = self.collection.collect(seq)
        if self.shipper is not None:
            self.spool.append(seq, report["ts"], encode_report(report), now=time.time())
            self.shipper.wake()
        if self.latest is not None:
            self.latest.update(self.collection.last_samples)
        return seq


def run(cfg: AgentConfig) -> int:
    """Loop until SIGTERM or SIGINT; returns the exit code (0 on a clean stop)."""
    agent = Agent(cfg)
    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    server = None
    if cfg.metrics_listen is not None:
        from agent.exposition import LatestSamples, serve

        agent.latest = LatestSamples()
        server = serve(cfg.metrics_listen, agent.latest)
    ship_thread = None
    if agent.shipper is not None:
        ship_thread = threading.Thread(target=agent.shipper.run, name="shipper", daemon=True)
        ship_thread.start()
    log.info("agent %s running: interval %gs, collector %s, %d reports spooled", agent.agent_id, cfg.interval,
             agent.shipper.endpoint.base_url if agent.shipper else "none", agent.spool.reports)
    rng = random.Random()
    spread = cfg.jitter * cfg.interval
    # A fixed random phase spreads a fleet over the interval; a little noise per cycle keeps
    # agents that happen to share a phase from staying in step.
    slot = time.monotonic() + rng.uniform(0, spread)
    next_at = slot
    while not stop.wait(max(0.0, next_at - time.monotonic())):
        try:
            agent.cycle()
        except OSError as exc:
            # A full disk or a vanished state directory: keep collecting, the next write may succeed.
            log.error("collection could not be spooled in %s: %s", agent.cfg.state_dir, exc)
        slot += cfg.interval
        now = time.monotonic()
        if slot < now:  # we fell behind (suspend, overload): skip missed slots, no burst
            slot = now + cfg.interval
        next_at = slot + rng.uniform(0, spread * 0.1)
    if agent.shipper is not None and ship_thread is not None:
        agent.shipper.stop()
        ship_thread.join(cfg.collector.timeout + 1)
    if server is not None:
        server.shutdown()
    agent.collection.close()
    agent.spool.close()
    log.info("stopped; %d reports left in the spool for next time", agent.spool.reports)
    return 0

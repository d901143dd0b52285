"""One collection: probes, checks and facts folded into a report."""

from __future__ import annotations

import time

from agent.facts import host_facts
from agent.probes import HostProbes, Sample
from agent.report import build_report, check_samples

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from agent.checks.runner import CheckRunner
    from agent.config import AgentConfig

# Facts change rarely (a new SSH key, a kernel after reboot); re-read them this often.
FACTS_MAX_AGE = 300.0


class Collection:
    """Builds reports for one agent. ``own_samples`` supplies the shipper's figures (spool, failures)."""

    def __init__(self, cfg: AgentConfig, agent_id: str, runner: CheckRunner,
                 own_samples: Callable[[], list[Sample]] = list) -> None:
        self._cfg = cfg
        self._agent_id = agent_id
        self._probes = HostProbes(cfg.probes)
        self._runner = runner
        self._own = own_samples
        self._facts: dict[str, Any] | None = None
        self._facts_at = 0.0
        self.last_duration = 0.0
        self.last_samples: list[Sample] = []

    def close(self) -> None:
        self._runner.close()

    def facts(self, now: float) -> dict[str, Any]:
        if self._facts is None or now - self._facts_at > FACTS_MAX_AGE:
            self._facts = host_facts(self._cfg.ssh_host_keys_dir)
            self._facts_at = now
        return self._facts

    def collect(self, seq: int) -> dict[str, Any]:
        """Run the checks (in their threads) while the probes read the host, then build the report."""
        started = time.perf_counter()
        ts = time.time()
        self._runner.start()
        samples = self._probes.collect()
        facts = self.facts(ts)
        results = self._runner.collect(started)
        samples += check_samples(results)
        samples.append(Sample("upkeep_agent_checks_run_total", {}, float(self._runner.runs_total)))
        samples += self._own()
        took = time.perf_counter() - started
        samples.append(Sample("upkeep_agent_collection_duration_seconds", {}, took))
        self.last_duration = took
        self.last_samples = samples
        return build_report(agent_id=self._agent_id, seq=seq, ts=ts, interval=self._cfg.interval,
                            facts=facts, samples=samples, checks=results)

"""Server sections: TLS, storage, retention, ingest limits."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from collector.config.types import Duration, Section, Size


class TlsConfig(Section):
    cert: Path
    key: Path


class StorageConfig(Section):
    # None means SQLite in the data directory (upkeep.db).
    url: str | None = None
    # SQLite's synchronous setting in WAL mode. FULL syncs the WAL at every commit, so an
    # acknowledged report survives power loss; NORMAL survives a process crash (kill -9) but may
    # lose the last commits on power loss. Ingest groups commits, so FULL costs little.
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    pool_size: int = 5


class RetentionConfig(Section):
    reports: Duration = 7 * 86400.0
    rollups: Duration = 400 * 86400.0
    # How far back the recent window keeps every series (and never less than the rules' lookback
    # plus one interval, what an instant selector and /federate read). Metrics the rules read over
    # longer ranges are kept as far back as the rules read them (predict_linear(...[6h]) keeps
    # that metric 6 h): most series of a fleet are read over minutes, or not at all.
    window: Duration = 5 * 60.0


class IngestConfig(Section):
    max_body_bytes: Size = 1_000_000
    max_decompressed_bytes: Size = 8_000_000
    max_batch: int = 500
    max_samples: int = 5_000
    max_clock_skew: Duration = 300.0
    # Reports per host per minute before 429; the agent pushes 4 a minute by default.
    max_rate_per_minute: int = 120
    commit_interval: Duration = 0.005

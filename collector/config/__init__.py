"""The collector's configuration: YAML validated once, at the edge, into frozen objects.

Each section lives in its own module; this one composes them and turns a mistake
into one line naming the key (``collector.yaml: customers.0.timezone: ...``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from collector.config.alerting import AlertingConfig
from collector.config.contracts import CustomerConfig, EngineerConfig, TicketsConfig
from collector.config.notify import NotificationsConfig
from collector.config.remote import RemoteConfig
from collector.config.schedule import ScheduleConfig
from collector.config.server import IngestConfig, RetentionConfig, StorageConfig, TlsConfig
from collector.config.types import Section
from collector.errors import ConfigError

DEFAULT_PORT = 8470


class CollectorConfig(Section):
    listen: str = f"127.0.0.1:{DEFAULT_PORT}"
    data_dir: Path = Path("data")
    public_url: str | None = None
    tls: TlsConfig | None = None
    storage: StorageConfig = StorageConfig()
    retention: RetentionConfig = RetentionConfig()
    ingest: IngestConfig = IngestConfig()
    alerting: AlertingConfig = AlertingConfig()
    customers: tuple[CustomerConfig, ...] = ()
    engineers: tuple[EngineerConfig, ...] = ()
    tickets: TicketsConfig = TicketsConfig()
    remote: RemoteConfig = RemoteConfig()
    notifications: NotificationsConfig = NotificationsConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    secret_key_file: Path | None = Field(
        default=None, description="signs survey links; generated in the data directory when unset"
    )

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    def customer(self, name: str) -> CustomerConfig | None:
        for c in self.customers:
            if c.name == name:
                return c
        return None


def _first_error(exc: ValidationError) -> tuple[str, str]:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    return key, msg


def build_config(data: dict[str, Any], *, source: str = "") -> CollectorConfig:
    """Validate a mapping into a CollectorConfig, or raise ConfigError naming the first bad key."""
    if not isinstance(data, dict):
        raise ConfigError("", "the configuration must be a mapping", source=source)
    try:
        return CollectorConfig.model_validate(data)
    except ValidationError as exc:
        key, msg = _first_error(exc)
        raise ConfigError(key, msg, source=source) from None


def load_config(
    path: Path | None = None,
    *,
    listen: str | None = None,
    data_dir: Path | None = None,
) -> CollectorConfig:
    """Read ``path`` (or start from defaults), then apply the command-line overrides."""
    data: dict[str, Any] = {}
    source = str(path) if path else ""
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError("", f"cannot read: {exc.strerror}", source=source) from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark else ""
            raise ConfigError("", f"{where}not valid YAML", source=source) from None
        data = loaded if loaded is not None else {}
    if not isinstance(data, dict):
        raise ConfigError("", "the configuration must be a mapping", source=source)
    if listen is not None:
        data["listen"] = listen
    if data_dir is not None:
        data["data_dir"] = str(data_dir)
    return build_config(data, source=source)

"""The remote-diagnosis section: SSH access to hosts and which playbooks may run where.

Remote commands are off until ``enabled: true``, and even then run only on hosts listed
in ``allowed_hosts`` or belonging to a customer in ``allowed_customers`` (``"*"`` allows
all). Playbooks run by a ticket without an engineer must also be in ``automatic``.
Key passphrases come from a file or an environment variable, never from this file.

    remote:
      enabled: true
      user: upkeep
      key_file: /etc/upkeep/ssh/id_ed25519
      passphrase_file: /etc/upkeep/ssh/passphrase
      allowed_customers: [acme]
      automatic: [disk-usage, memory-top]
      customers:
        acme: {user: support, jump: ["bastion.acme.example:2222"]}
      hosts:
        db-01: {address: 10.0.0.5, port: 2222}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from collector.config.types import Duration, Section, Size

_HOP = re.compile(
    r"^(?:(?P<user>[^@\s]+)@)?(?P<address>\[[0-9A-Fa-f:.]+\]|[^:@\s\[\]]+)(?::(?P<port>\d{1,5}))?$"
)


class _KeySource(Section):
    key_file: Path | None = None
    passphrase_file: Path | None = None
    passphrase_env: str | None = None

    @model_validator(mode="after")
    def _one_passphrase(self) -> _KeySource:
        if self.passphrase_file is not None and self.passphrase_env:
            raise ValueError("give passphrase_file or passphrase_env, not both")
        return self


class JumpHost(_KeySource):
    """A bastion: ``user@address:port`` or the full mapping."""

    address: str
    port: int = Field(default=22, ge=1, le=65535)
    user: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            m = _HOP.match(value.strip())
            if not m:
                raise ValueError(f"{value!r} is not a jump host like user@bastion.example:22")
            parsed: dict[str, Any] = {"address": m.group("address").strip("[]")}
            if m.group("user"):
                parsed["user"] = m.group("user")
            if m.group("port"):
                parsed["port"] = int(m.group("port"))
            return parsed
        return value


class SshSettings(_KeySource):
    """SSH settings for a customer's hosts or one host; unset fields fall back to the wider level.

    A host listed here that has no agent (so is not in the inventory) names its ``customer``.
    """

    address: str | None = None
    customer: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    user: str | None = None
    jump: tuple[JumpHost, ...] | None = None


class RemoteConfig(_KeySource):
    enabled: bool = False
    user: str = "root"
    port: int = Field(default=22, ge=1, le=65535)
    jump: tuple[JumpHost, ...] = ()
    customers: dict[str, SshSettings] = Field(default_factory=dict)
    hosts: dict[str, SshSettings] = Field(default_factory=dict)
    allowed_customers: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    # Playbooks a ticket may start without an engineer (still only on allowed hosts).
    automatic: tuple[str, ...] = ()
    playbook_paths: tuple[Path, ...] = ()
    forks: int = Field(default=20, ge=1, le=500)
    connect_timeout: Duration = 10.0
    # The longest any one step may run, whatever its playbook asks.
    command_timeout: Duration = 300.0
    output_cap: Size = 65536
    # Literal strings, and environment variables whose values, are cut from stored output and logs.
    redact: tuple[str, ...] = ()
    redact_env: tuple[str, ...] = ()
    known_hosts_file: Path | None = Field(default=None, description="default: <data_dir>/known_hosts")

    @field_validator("connect_timeout", "command_timeout")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be more than 0")
        return v

    @field_validator("output_cap")
    @classmethod
    def _cap(cls, v: int) -> int:
        if not 1024 <= v <= 16 * 1024 * 1024:
            raise ValueError("must be between 1KiB and 16MiB")
        return v

    def allows(self, host: str, customer: str | None) -> bool:
        """Whether remote diagnosis may touch this host at all."""
        if not self.enabled:
            return False
        if "*" in self.allowed_hosts or host in self.allowed_hosts:
            return True
        return bool(customer) and ("*" in self.allowed_customers or customer in self.allowed_customers)

    def allows_automatically(self, playbook: str, host: str, customer: str | None) -> bool:
        """Whether a ticket may start ``playbook`` on this host without an engineer."""
        return self.allows(host, customer) and ("*" in self.automatic or playbook in self.automatic)

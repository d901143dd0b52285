"""From configuration and inventory to a Target: which address, user, key and bastions.

Settings for one host win over its customer's, which win over the section's defaults.
A bastion's unset user and key fall back the same way. The host's agent-reported SSH
host keys (``facts.ssh_host_keys``) become the keys trusted for the host itself, never
for a bastion.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from collector.config.remote import JumpHost, RemoteConfig, SshSettings
from collector.remote.targets import Endpoint, Target, TrustedKey


def agent_host_keys(facts: Mapping[str, Any] | None) -> tuple[TrustedKey, ...]:
    """The host keys an agent reported in its facts (malformed entries are ignored)."""
    raw = (facts or {}).get("ssh_host_keys") or []
    keys: list[TrustedKey] = []
    if isinstance(raw, list):
        for item in raw:
            if not isinstance(item, Mapping):
                continue
            if isinstance(item.get("type"), str) and isinstance(item.get("key"), str):
                keys.append(TrustedKey(item["type"], item["key"]))
    return tuple(keys)


def _pick(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _key_fields(*levels: SshSettings | JumpHost | RemoteConfig | None) -> dict[str, Any]:
    """key_file with its own passphrase source: the first level naming a key supplies both."""
    for level in levels:
        if level is not None and level.key_file is not None:
            return {"key_file": level.key_file, "passphrase_file": level.passphrase_file,
                    "passphrase_env": level.passphrase_env}
    return {"key_file": None, "passphrase_file": None, "passphrase_env": None}


def resolve_target(config: RemoteConfig, host: str, customer: str | None = None,
                   facts: Mapping[str, Any] | None = None) -> Target:
    """The Target for inventory host ``host`` under ``config``."""
    per_host = config.hosts.get(host)
    per_customer = config.customers.get(customer) if customer else None
    # An address is per host; a customer's settings cannot name one for all its hosts.
    address = _pick(per_host and per_host.address, host)
    user = _pick(per_host and per_host.user, per_customer and per_customer.user, config.user)
    endpoint = Endpoint(
        address=address,
        port=_pick(per_host and per_host.port, per_customer and per_customer.port, config.port),
        user=user,
        trusted_keys=agent_host_keys(facts),
        label=host,
        **_key_fields(per_host, per_customer, config),
    )
    jumps_cfg = _pick(per_host and per_host.jump, per_customer and per_customer.jump, config.jump) or ()
    jumps = tuple(
        Endpoint(
            address=j.address, port=j.port, user=j.user or user,
            **_key_fields(j, per_host, per_customer, config),
        )
        for j in jumps_cfg
    )
    return Target(host=host, endpoint=endpoint, customer=customer or "", jumps=jumps)


def known_hosts_path(config: RemoteConfig, data_dir: Path) -> Path:
    return config.known_hosts_file or Path(data_dir) / "known_hosts"

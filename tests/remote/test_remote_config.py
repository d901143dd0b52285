"""The remote section of the configuration, target resolution, sudo wrapping and redaction."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from collector.config import build_config
from collector.core.playbook import sudo_wrap
from collector.core.playbook.redact import redact
from collector.errors import ConfigError
from collector.remote.resolve import agent_host_keys, resolve_target


def test_remote_commands_are_off_by_default() -> None:
    remote = build_config({}).remote
    assert remote.enabled is False
    assert not remote.allows("web-01", "acme")
    assert remote.forks == 20
    assert remote.output_cap == 65536


@pytest.mark.parametrize(
    ("remote", "key"),
    [
        ({"passphrase": "secret"}, "remote.passphrase"),
        ({"key_file": "/k", "passphrase_file": "/p", "passphrase_env": "P"}, "remote"),
        ({"forks": 0}, "remote.forks"),
        ({"jump": ["not a host"]}, "remote.jump.0"),
        ({"hosts": {"h": {"colour": "red"}}}, "remote.hosts.h.colour"),
        ({"command_timeout": "soon"}, "remote.command_timeout"),
    ],
)
def test_mistakes_name_the_key(remote: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        build_config({"remote": remote})
    assert err.value.key == key


def test_allowed_hosts_customers_and_automatic_playbooks() -> None:
    remote = build_config({"remote": {
        "enabled": True, "allowed_customers": ["acme"], "allowed_hosts": ["db-09"],
        "automatic": ["disk-usage"],
    }}).remote
    assert remote.allows("web-01", "acme")
    assert remote.allows("db-09", "globex")
    assert not remote.allows("db-01", "globex")
    assert remote.allows_automatically("disk-usage", "web-01", "acme")
    assert not remote.allows_automatically("memory-top", "web-01", "acme")
    assert not remote.allows_automatically("disk-usage", "db-01", "globex")


def test_host_settings_win_over_customer_over_defaults() -> None:
    remote = build_config({"remote": {
        "user": "upkeep", "key_file": "/keys/default", "port": 22, "jump": ["bastion.example"],
        "customers": {"acme": {"user": "support", "key_file": "/keys/acme", "passphrase_env": "ACME_PASS",
                               "jump": ["ops@gw.acme.example:2222", "inner.acme"]}},
        "hosts": {"db-01": {"address": "10.0.0.5", "port": 2200, "jump": []}},
    }}).remote
    facts = {"ssh_host_keys": [{"type": "ssh-ed25519", "key": "AAAA"}]}
    web = resolve_target(remote, "web-01", "acme", facts)
    assert (web.endpoint.address, web.endpoint.port, web.endpoint.user) == ("web-01", 22, "support")
    assert web.endpoint.key_file == Path("/keys/acme")
    assert web.endpoint.passphrase_env == "ACME_PASS"
    assert [(j.address, j.port, j.user) for j in web.jumps] == [("gw.acme.example", 2222, "ops"),
                                                               ("inner.acme", 22, "support")]
    assert [k.type for k in web.endpoint.trusted_keys] == ["ssh-ed25519"]
    assert web.jumps[0].trusted_keys == ()
    db = resolve_target(remote, "db-01", "acme")
    assert (db.endpoint.address, db.endpoint.port, db.jumps) == ("10.0.0.5", 2200, ())
    other = resolve_target(remote, "x", "globex")
    assert (other.endpoint.user, other.endpoint.key_file) == ("upkeep", Path("/keys/default"))
    assert [j.address for j in other.jumps] == ["bastion.example"]


def test_malformed_agent_keys_are_ignored() -> None:
    facts = {"ssh_host_keys": [{"type": "ssh-ed25519"}, "junk", {"type": 1, "key": "x"},
                               {"type": "ssh-rsa", "key": "AAAAB3"}]}
    assert [k.type for k in agent_host_keys(facts)] == ["ssh-rsa"]
    assert agent_host_keys({"ssh_host_keys": "nope"}) == ()


def test_sudo_is_non_interactive_and_quoted() -> None:
    assert shlex.split(sudo_wrap("echo 'it''s'; id")) == ["sudo", "-n", "--", "sh", "-c", "echo 'it''s'; id"]


def test_redaction_removes_every_occurrence_longest_first() -> None:
    assert redact("pw=abc123 and abc123x", ["abc123", "abc123x", ""]) == "pw=[redacted] and [redacted]"

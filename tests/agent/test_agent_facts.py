"""Host facts: SSH host keys with OpenSSH's own SHA256 fingerprints."""

from __future__ import annotations

import subprocess
from pathlib import Path

from agent.facts import host_facts, ssh_host_keys
from tests.support import require_binary


def test_fingerprints_match_ssh_keygen(tmp_path: Path) -> None:
    keygen = require_binary("ssh-keygen")
    for kind in ("ed25519", "ecdsa", "rsa"):
        subprocess.run([keygen, "-q", "-t", kind, "-N", "", "-f", str(tmp_path / f"ssh_host_{kind}_key")],
                       check=True)
    (tmp_path / "ssh_host_broken_key.pub").write_text("ssh-ed25519 not!base64 root@x\n")
    (tmp_path / "ssh_host_empty_key.pub").write_text("")
    keys = ssh_host_keys(tmp_path)
    assert [k["type"] for k in keys] == ["ecdsa-sha2-nistp256", "ssh-ed25519", "ssh-rsa"]
    for k in keys:
        short = {"ecdsa-sha2-nistp256": "ecdsa", "ssh-ed25519": "ed25519", "ssh-rsa": "rsa"}[k["type"]]
        pub = tmp_path / f"ssh_host_{short}_key.pub"
        listed = subprocess.run([keygen, "-l", "-E", "sha256", "-f", str(pub)], check=True,
                                capture_output=True, text=True).stdout.split()
        assert k["fingerprint"] == listed[1]
        assert k["key"] == pub.read_text().split()[1]


def test_facts_carry_the_wire_format_fields(tmp_path: Path) -> None:
    facts = host_facts(tmp_path)
    assert set(facts) == {"hostname", "os", "os_release", "kernel", "arch", "cpu_count", "memory_bytes",
                          "boot_time", "python", "ssh_host_keys"}
    assert facts["ssh_host_keys"] == []
    assert facts["memory_bytes"] > 0

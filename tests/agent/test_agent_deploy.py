"""deploy/: the agent's unit passes systemd-analyze, is hardened, and agrees with the install script."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
from pathlib import Path

from tests.support import require_binary

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "systemd" / "upkeep-agent.service"
INSTALL = ROOT / "deploy" / "install-agent.sh"


def _service() -> dict[str, str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return dict(parser["Service"])


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    analyze = require_binary("systemd-analyze")
    # verify insists the programs exist; the installed path does not on a build machine.
    copy = tmp_path / "upkeep-agent.service"
    copy.write_text(UNIT.read_text().replace("/opt/upkeep-agent/bin/upkeep-agent", "/bin/true"))
    done = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "upkeep-agent.service" not in done.stderr, done.stderr


def test_the_unit_is_hardened() -> None:
    svc = _service()
    assert svc["NoNewPrivileges"] == "yes"
    assert svc["ProtectSystem"] == "strict"
    assert svc["StateDirectory"] == "upkeep-agent"
    assert svc["StateDirectoryMode"] == "0700"
    assert svc["User"] == "upkeep-agent"
    assert svc["CapabilityBoundingSet"] == ""
    assert "ProtectProc" not in svc  # process checks must see every process


def test_the_install_script_and_the_unit_agree() -> None:
    bash = require_binary("bash")
    assert subprocess.run([bash, "-n", str(INSTALL)], timeout=30).returncode == 0
    script = INSTALL.read_text()
    svc = _service()
    assert "PREFIX=/opt/upkeep-agent" in script
    assert svc["ExecStart"] == "/opt/upkeep-agent/bin/upkeep-agent run --config /etc/upkeep/agent.yaml"
    assert "STATE_DIR=/var/lib/upkeep-agent" in script
    assert "systemctl enable" in script


def test_the_install_script_refuses_politely(tmp_path: Path) -> None:
    bash = require_binary("bash")
    bad = subprocess.run([bash, str(INSTALL), "--bogus"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1
    assert bad.stderr.strip() == "install-agent: unknown option --bogus (see --help)"
    lonely = subprocess.run([bash, str(INSTALL), "--token", "t"], capture_output=True, text=True, timeout=30)
    assert lonely.returncode == 1
    helped = subprocess.run([bash, str(INSTALL), "--help"], capture_output=True, text=True, timeout=30)
    assert helped.returncode == 0
    assert "--collector URL --token ENROLLMENT_TOKEN" in helped.stdout
    if os.geteuid() == 0 and shutil.which("runuser") and subprocess.run(["id", "nobody"],
                                                                        capture_output=True).returncode == 0:
        unprivileged = subprocess.run(["runuser", "-u", "nobody", "--", bash, str(INSTALL)],
                                      capture_output=True, text=True, timeout=30)
        assert unprivileged.returncode == 1
        assert "run as root" in unprivileged.stderr

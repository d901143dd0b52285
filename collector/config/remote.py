"""The remote-diagnosis section (SSH, playbooks); filled by the playbook work."""

from __future__ import annotations

from collector.config.types import Section


class RemoteConfig(Section):
    pass

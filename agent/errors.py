"""The agent's error tree (the agent never imports the collector, so it keeps its own).

    AgentError               base; ``str(e)`` is one line fit for an operator
    ├── ConfigError          a wrong key or value in agent.yaml (``key`` names it)
    ├── StateError           the state directory cannot be used (``path``)
    └── EnrollError          the collector refused or could not be reached during enrollment
"""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error the agent raises on purpose; its message is one line."""


class ConfigError(AgentError):
    """A wrong key or value; ``key`` is its dotted path (``checks.2.port``)."""

    def __init__(self, key: str, message: str, *, source: str = "") -> None:
        self.key = key
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{key}: {message}" if key else f"{where}{message}")


class StateError(AgentError):
    """The state directory (agent id, token, spool) cannot be created or read."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


class EnrollError(AgentError):
    """Enrollment failed; ``status`` is the collector's HTTP status, 0 when it gave none."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        self.status = status
        super().__init__(message)

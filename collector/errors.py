"""The collector's error tree.

    UpkeepError                      base; ``str(e)`` is one line fit for a user
    ├── ConfigError                  a wrong key or value in the configuration (``key`` names it)
    ├── NotFound                     an id that does not exist, or is outside the caller's scope
    ├── Conflict                     a change that the current state forbids (``allowed`` lists what is)
    ├── Forbidden                    the caller's role may not do this
    ├── InvalidInput                 a request or argument that does not validate (``field`` names it)
    ├── RuleError                    a rule file that cannot be loaded (``file``, ``rule``)
    ├── PlaybookError                a playbook that cannot be loaded (``file``, ``step``)
    └── RemoteError                  a host that could not be worked on (``host``, ``retryable``)
        └── HostKeyError             unknown or changed host key (``fingerprint``)
"""

from __future__ import annotations


class UpkeepError(Exception):
    """Base of every error upkeep raises on purpose; its message is one line."""


class ConfigError(UpkeepError):
    def __init__(self, key: str, message: str, *, source: str = "") -> None:
        self.key = key
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{key}: {message}" if key else f"{where}{message}")


class NotFound(UpkeepError):
    def __init__(self, kind: str, ident: object) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(f"{kind} {ident} not found")


class Conflict(UpkeepError):
    def __init__(self, message: str, *, allowed: list[str] | None = None) -> None:
        self.allowed = allowed or []
        super().__init__(message)


class Forbidden(UpkeepError):
    pass


class InvalidInput(UpkeepError):
    def __init__(self, message: str, *, field: str = "") -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class RuleError(UpkeepError):
    def __init__(self, message: str, *, file: str = "", rule: str = "") -> None:
        self.file = file
        self.rule = rule
        where = ":".join(p for p in (file, rule) if p)
        super().__init__(f"{where}: {message}" if where else message)


class PlaybookError(UpkeepError):
    def __init__(self, message: str, *, file: str = "", step: str = "") -> None:
        self.file = file
        self.step = step
        where = ":".join(p for p in (file, step) if p)
        super().__init__(f"{where}: {message}" if where else message)


class RemoteError(UpkeepError):
    def __init__(self, message: str, *, host: str = "", retryable: bool = False) -> None:
        self.host = host
        self.retryable = retryable
        super().__init__(f"{host}: {message}" if host else message)


class HostKeyError(RemoteError):
    def __init__(self, message: str, *, host: str = "", fingerprint: str = "") -> None:
        self.fingerprint = fingerprint
        super().__init__(message, host=host, retryable=False)


class Unauthorized(UpkeepError):
    pass


class PayloadTooLarge(UpkeepError):
    def __init__(self, message: str, *, field: str = "body") -> None:
        self.field = field
        super().__init__(message)


class RateLimited(UpkeepError):
    def __init__(self, message: str, *, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class Overloaded(UpkeepError):
    """The ingest queue is full: answered 503 with Retry-After; the agent keeps the report spooled."""

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        self.retry_after = retry_after
        super().__init__(message)

"""agent.yaml: read once, validated into immutable records (named tuples).

Every mistake becomes one ``ConfigError`` naming the key by its dotted path
(``checks.1.port``); nothing else in the agent reads raw YAML.

The records are named tuples rather than dataclasses, paths are strings (os.path, not
pathlib), URLs are split here rather than by urllib.parse, and the YAML parser is loaded
only in a short-lived child: the running agent keeps every module it ever imported, and
``dataclasses`` (with ``inspect``), ``yaml`` and ``pathlib`` (with ``urllib.parse`` and
``ipaddress``) are some three megabytes of it.
"""

from __future__ import annotations

import os
import re
from collections import namedtuple
from types import MappingProxyType

from agent.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from os import PathLike
    from typing import Any, TypeVar

    T = TypeVar("T")

DEFAULT_CONFIG = "/etc/upkeep/agent.yaml"
DEFAULT_STATE_DIR = "/var/lib/upkeep-agent"

# Debian's prometheus-node-exporter defaults (1.5), so the agent keeps and drops the same
# filesystems, disks and interfaces as the exporter a site may already run beside it.
NODE_MOUNT_POINTS_EXCLUDE = (
    r"^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
)
NODE_FS_TYPES_EXCLUDE = (
    r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue"
    r"|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$"
)
NODE_DISK_DEVICE_EXCLUDE = r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"
NODE_NETDEV_DEVICE_EXCLUDE = r"^lo$"

CHECK_KINDS = ("process", "tcp", "http", "command", "logfile")
_CHECK_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "ki": 1024, "m": 10**6, "mb": 10**6,
               "mib": 2**20, "mi": 2**20, "g": 10**9, "gb": 10**9, "gib": 2**30, "gi": 2**30,
               "t": 10**12, "tb": 10**12, "tib": 2**40, "ti": 2**40}
_DURATION_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class CollectorConfig(namedtuple("CollectorConfig", "url ca_file allow_plaintext timeout batch_max_reports "
                                                     "batch_max_bytes", defaults=(None, None, False, 10.0, 50,
                                                                                  4 * 2**20))):
    """Where reports go. ``url`` None means: use the URL stored by ``upkeep-agent enroll``."""

    __slots__ = ()
    url: str | None
    ca_file: str | None
    allow_plaintext: bool
    timeout: float
    batch_max_reports: int
    batch_max_bytes: int


class SpoolConfig(namedtuple("SpoolConfig", "max_bytes max_age", defaults=(100 * 10**6, 86400.0))):
    __slots__ = ()
    max_bytes: int
    max_age: float


class ProbeConfig(namedtuple("ProbeConfig", "mount_points_exclude fs_types_exclude disk_device_exclude "
                                             "netdev_device_exclude filesystem_timeout",
                             defaults=(NODE_MOUNT_POINTS_EXCLUDE, NODE_FS_TYPES_EXCLUDE,
                                       NODE_DISK_DEVICE_EXCLUDE, NODE_NETDEV_DEVICE_EXCLUDE, 5.0))):
    __slots__ = ()
    mount_points_exclude: str
    fs_types_exclude: str
    disk_device_exclude: str
    netdev_device_exclude: str
    filesystem_timeout: float


class CheckConfig(namedtuple("CheckConfig", "name kind timeout options", defaults=(MappingProxyType({}),))):
    """One check. ``options`` holds the kind's own validated settings (see agent/checks/)."""

    __slots__ = ()
    name: str
    kind: str
    timeout: float
    options: Mapping[str, Any]


class AgentConfig(namedtuple("AgentConfig", "collector state_dir interval jitter ssh_host_keys_dir "
                                             "metrics_listen spool probes checks source",
                             defaults=(CollectorConfig(), DEFAULT_STATE_DIR, 15.0, 0.1, "/etc/ssh",
                                       None, SpoolConfig(), ProbeConfig(), (), ""))):
    __slots__ = ()
    collector: CollectorConfig
    state_dir: str
    interval: float
    jitter: float
    ssh_host_keys_dir: str
    metrics_listen: tuple[str, int] | None
    spool: SpoolConfig
    probes: ProbeConfig
    checks: tuple[CheckConfig, ...]
    source: str


class Section:
    """A mapping being validated: remembers its dotted path and which keys were used."""

    def __init__(self, data: Any, path: str, source: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(path or "(top level)", "must be a mapping", source=source)
        self.data: dict[str, Any] = data
        self.path = path
        self.source = source
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def fail(self, name: str, message: str) -> ConfigError:
        return ConfigError(self.key(name), message, source=self.source)

    def get(self, name: str, default: T, convert: Callable[[Any], T]) -> T:
        """The value under ``name`` converted, or ``default``; a conversion's ValueError names the key."""
        self.used.add(name)
        if name not in self.data or self.data[name] is None:
            return default
        try:
            return convert(self.data[name])
        except (ValueError, TypeError) as exc:
            raise self.fail(name, str(exc)) from None

    def require(self, name: str, convert: Callable[[Any], T]) -> T:
        if name not in self.data or self.data[name] is None:
            raise self.fail(name, "is required")
        return self.get(name, None, convert)  # type: ignore[arg-type]

    def sub(self, name: str) -> Section:
        self.used.add(name)
        return Section(self.data.get(name), self.key(name), self.source)

    def finish(self) -> None:
        """Refuse keys nobody asked for: a typo must not silently fall back to a default."""
        for k in self.data:
            if k not in self.used:
                raise self.fail(str(k), "unknown key")


def as_str(v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise ValueError("must be a non-empty string")
    return v


def as_bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError("must be true or false")
    return v


def as_int(lo: int, hi: int) -> Callable[[Any], int]:
    def conv(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"must be an integer from {lo} to {hi}")
        return v

    return conv


def as_duration(lo: float, hi: float) -> Callable[[Any], float]:
    """Seconds as a number or with a unit (``500ms``, ``15s``, ``24h``), within [lo, hi]."""

    def conv(v: Any) -> float:
        if isinstance(v, bool):
            raise ValueError("must be a duration")
        if isinstance(v, int | float):
            seconds = float(v)
        else:
            m = _DURATION.match(str(v))
            if not m:
                raise ValueError("must be a duration such as 15s, 500ms or 24h")
            seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        if not lo <= seconds <= hi:
            raise ValueError(f"must be between {lo:g}s and {hi:g}s")
        return seconds

    return conv


def as_size(v: Any) -> int:
    """Bytes as a number or with a unit (``100MB``, ``64MiB``)."""
    if isinstance(v, bool):
        raise ValueError("must be a size")
    if isinstance(v, int) and v > 0:
        return v
    m = _SIZE.match(str(v))
    if not m or (m.group(2) or "").lower() not in _SIZE_UNITS:
        raise ValueError("must be a size such as 100MB or 64MiB")
    size = int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "").lower()])
    if size <= 0:
        raise ValueError("must be positive")
    return size


def as_regex(v: Any) -> str:
    s = as_str(v)
    try:
        re.compile(s)
    except re.error as exc:
        raise ValueError(f"is not a valid regular expression: {exc}") from None
    return s


def as_path(v: Any) -> str:
    return as_str(v)


def as_listen(v: Any) -> tuple[str, int]:
    s = str(v)
    host, sep, port = s.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("must be host:port, e.g. 127.0.0.1:9101")
    return (host.strip("[]") or "0.0.0.0", int(port))


def split_url(url: str) -> tuple[str, str, int | None, str]:
    """(scheme, host, port or None, path) of an http(s) URL; ValueError if it is not one.

    urllib.parse's reading for these URLs: scheme and host lower-cased, user info dropped, an
    IPv6 host without its brackets, query and fragment not part of the path.
    """
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("http", "https") or any(c.isspace() or ord(c) < 32 for c in url):
        raise ValueError("must be an http:// or https:// URL with a host")
    end = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    netloc, path = rest[:end], rest[end:].split("?", 1)[0].split("#", 1)[0]
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):
        host, bracket, port_part = hostport[1:].partition("]")
        if not bracket or not host or any(c not in "0123456789abcdefABCDEF:." for c in host):
            raise ValueError("must be an http:// or https:// URL with a host")
        if port_part and not port_part.startswith(":"):
            raise ValueError("must be an http:// or https:// URL with a host")
        port_text = port_part[1:]
    else:
        host, _, port_text = hostport.partition(":")
    if not host:
        raise ValueError("must be an http:// or https:// URL with a host")
    port = None
    if port_text:
        if not port_text.isdigit() or not port_text.isascii() or int(port_text) > 65535:
            raise ValueError(f"has a bad port {port_text!r}")
        port = int(port_text)
    return scheme, host.lower(), port, path


def as_url(v: Any) -> str:
    s = as_str(v).rstrip("/")
    split_url(s)
    return s


def _collector(sec: Section) -> CollectorConfig:
    cfg = CollectorConfig(
        url=sec.get("url", None, as_url),
        ca_file=sec.get("ca_file", None, as_path),
        allow_plaintext=sec.get("allow_plaintext", False, as_bool),
        timeout=sec.get("timeout", 10.0, as_duration(0.1, 300)),
        batch_max_reports=sec.get("batch_max_reports", 50, as_int(1, 10000)),
        batch_max_bytes=sec.get("batch_max_bytes", 4 * 2**20, as_size),
    )
    if cfg.url and cfg.url.startswith("http://") and not cfg.allow_plaintext:
        raise sec.fail("url", "plaintext http:// needs collector.allow_plaintext: true")
    if cfg.ca_file is not None and not os.path.isfile(cfg.ca_file):
        raise sec.fail("ca_file", f"{cfg.ca_file} is not a readable file")
    sec.finish()
    return cfg


def _probes(sec: Section) -> ProbeConfig:
    cfg = ProbeConfig(
        mount_points_exclude=sec.get("mount_points_exclude", NODE_MOUNT_POINTS_EXCLUDE, as_regex),
        fs_types_exclude=sec.get("fs_types_exclude", NODE_FS_TYPES_EXCLUDE, as_regex),
        disk_device_exclude=sec.get("disk_device_exclude", NODE_DISK_DEVICE_EXCLUDE, as_regex),
        netdev_device_exclude=sec.get("netdev_device_exclude", NODE_NETDEV_DEVICE_EXCLUDE, as_regex),
        filesystem_timeout=sec.get("filesystem_timeout", 5.0, as_duration(0.1, 60)),
    )
    sec.finish()
    return cfg


def _checks(raw: Any, source: str, interval: float) -> tuple[CheckConfig, ...]:
    # Imported here: the check kinds validate their own options, and they import this module.
    from agent.checks import validate_options

    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError("checks", "must be a list", source=source)
    seen: set[str] = set()
    out: list[CheckConfig] = []
    for i, item in enumerate(raw):
        sec = Section(item, f"checks.{i}", source)
        name = sec.require("name", as_str)
        if not _CHECK_NAME.match(name):
            raise sec.fail("name", "may hold letters, digits and _ . : - (at most 64)")
        if name in seen:
            raise sec.fail("name", f"{name!r} is used by another check")
        seen.add(name)
        kind = sec.require("kind", as_str)
        if kind not in CHECK_KINDS:
            raise sec.fail("kind", f"must be one of {', '.join(CHECK_KINDS)}")
        # A check must finish (or be given up on) before the next collection starts.
        timeout = sec.get("timeout", min(10.0, interval * 0.66), as_duration(0.01, 3600))
        if timeout >= interval:
            raise sec.fail("timeout", f"must be shorter than the interval ({interval:g}s)")
        options = validate_options(kind, sec)
        sec.finish()
        out.append(CheckConfig(name=name, kind=kind, timeout=timeout, options=options))
    return tuple(out)


def parse_config(data: Any, source: str = "") -> AgentConfig:
    """Validate a parsed YAML document into an ``AgentConfig``; raises ``ConfigError``."""
    top = Section(data, "", source)
    # The collector accepts reports announcing 1 s to 1 h between them.
    interval = top.get("interval", 15.0, as_duration(1, 3600))
    metrics = top.sub("metrics")
    listen = metrics.get("listen", None, as_listen)
    metrics.finish()
    spool = top.sub("spool")
    spool_cfg = SpoolConfig(
        max_bytes=spool.get("max_bytes", 100 * 10**6, as_size),
        max_age=spool.get("max_age", 86400.0, as_duration(1, 365 * 86400)),
    )
    spool.finish()
    cfg = AgentConfig(
        collector=_collector(top.sub("collector")),
        state_dir=top.get("state_dir", DEFAULT_STATE_DIR, as_path),
        interval=interval,
        jitter=top.get("jitter", 0.1, _as_fraction),
        ssh_host_keys_dir=top.get("ssh_host_keys_dir", "/etc/ssh", as_path),
        metrics_listen=listen,
        spool=spool_cfg,
        probes=_probes(top.sub("probes")),
        checks=_checks(top.get("checks", None, lambda v: v), source, interval),
        source=source,
    )
    top.finish()
    return cfg


def _as_fraction(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 0.5:
        raise ValueError("must be a number from 0 to 0.5 (a share of the interval)")
    return float(v)


def _yaml_safe_load(text: str) -> tuple[str, ...] | tuple[str, Any]:
    """("ok", document) or ("error", where, problem) for a YAML text."""
    import yaml

    try:
        return ("ok", yaml.safe_load(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "YAML"
        problem = getattr(exc, "problem", None) or "not valid YAML"
        return ("error", where, str(problem))


def _yaml_apart(text: str) -> tuple[str, ...] | tuple[str, Any] | None:
    """``_yaml_safe_load`` in a forked child, so the parser never enters this process's memory.

    The document comes back through a pipe in ``marshal``'s format (which carries every type
    the agent's config can hold). None when that was not possible: no fork here, the child
    failed, or the document holds a value marshal cannot carry (a date; never valid in
    agent.yaml, so the caller's own parse will end in a ConfigError anyway).
    """
    import marshal

    if not hasattr(os, "fork"):
        return None
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: parse, send, and leave without running any of the parent's exit code
        code = 1
        try:
            os.close(r)
            result = _yaml_safe_load(text)
            try:
                blob = marshal.dumps(result)
            except ValueError:
                blob = marshal.dumps(("unsupported",))
            with os.fdopen(w, "wb") as out:
                out.write(blob)
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        blob = f.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not blob:
        return None
    try:
        result = marshal.loads(blob)  # noqa: S302 - our own child's, through a private pipe
    except (EOFError, ValueError, TypeError):
        return None
    return None if result[0] == "unsupported" else result


def load_config(path: str | PathLike[str] | None, *, parse_apart: bool = False) -> AgentConfig:
    """Read and validate ``path``; None reads DEFAULT_CONFIG when it exists, else all defaults.

    ``parse_apart`` (the long-running agent) parses the YAML in a short-lived child process.
    """
    if path is None:
        if not os.path.exists(DEFAULT_CONFIG):
            return AgentConfig()
        path = DEFAULT_CONFIG
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError("", f"cannot read: {exc.strerror}", source=source) from None
    result = _yaml_apart(text) if parse_apart else None
    if result is None:
        result = _yaml_safe_load(text)
    if result[0] == "error":
        raise ConfigError(result[1], result[2], source=source)
    return parse_config(result[1], source)

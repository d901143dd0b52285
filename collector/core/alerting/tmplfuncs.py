"""The functions rule templates may call, with Go's argument rules (no silent int/float mixing)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from collector.core.alerting import goformat
from collector.core.alerting.goformat import go_str, go_type

if TYPE_CHECKING:
    from collector.core.alerting.template import TemplateData

__all__ = ["FUNCS", "CallError", "call", "go_str", "go_type", "truth"]


class CallError(ValueError):
    """A template function refused its arguments (rendered as Prometheus' expansion error)."""


def truth(value: Any) -> bool:
    """Go's template truth: false, 0, "", nil and empty maps are false."""
    if value is None:
        return False
    if isinstance(value, bool | int | float):
        return bool(value)
    if isinstance(value, str | Mapping | list | tuple):
        return len(value) > 0
    return True


def go_str_for_output(value: Any) -> str:
    return go_str(value)


def _float(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise CallError(f"error calling {name}: can't convert bool to float")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise CallError(f'error calling {name}: parsing "{value}": invalid syntax') from None
    raise CallError(f"error calling {name}: can't convert {go_type(value)} to float")


def _string(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise CallError(f"wrong type for value; expected string; got {go_type(value)}")
    return value


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "other"


def _eq(name: str, a: Any, *others: Any) -> bool:
    if not others:
        raise CallError(f"error calling {name}: missing argument for comparison")
    for b in others:
        if _kind(a) != _kind(b) or _kind(a) == "other":
            raise CallError(f"error calling {name}: incompatible types for comparison")
        if a == b:
            return True
    return False


def _ordered(name: str, a: Any, b: Any) -> tuple[Any, Any]:
    ka, kb = _kind(a), _kind(b)
    if ka in {"bool", "other"} or kb in {"bool", "other"}:
        raise CallError(f"error calling {name}: invalid type for comparison")
    if ka != kb:
        raise CallError(f"error calling {name}: incompatible types for comparison")
    return a, b


def _title(s: str) -> str:
    """Go's strings.Title: upper-case the first letter of each word, leave the rest alone."""
    out, prev_sep = [], True
    for ch in s:
        out.append(ch.upper() if prev_sep and ch.isalpha() else ch)
        prev_sep = not (ch.isalnum() or ch == "_")
    return "".join(out)


def _go_regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise CallError(f"error parsing regexp: {exc}") from None


def _re_replace_all(pattern: str, repl: str, text: str) -> str:
    # Go expands $1 and ${1} (and ${name}); Python wants \g<1>.
    py_repl = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: f"\\g<{m.group(1) or m.group(2)}>",
                     repl.replace("\\", "\\\\"))
    try:
        return _go_regex("(?:" + pattern + ")").sub(py_repl, text)
    except (re.error, IndexError):
        return text


def _strip_port(hostport: str) -> str:
    if hostport.startswith("["):
        end = hostport.find("]")
        return hostport[1:end] if end > 0 else hostport
    if hostport.count(":") == 1:
        return hostport.split(":", 1)[0]
    return hostport


def _strip_domain(hostport: str) -> str:
    host = _strip_port(hostport)
    if re.fullmatch(r"[\d.]+|[0-9a-fA-F:]+", host):
        return hostport
    short = host.split(".", 1)[0]
    return hostport.replace(host, short, 1)


def _parse_duration(s: str) -> float:
    from collector.core.alerting.durations import parse_prometheus_duration

    try:
        return parse_prometheus_duration(s)
    except ValueError as exc:
        raise CallError(f"error calling parseDuration: {exc}") from None


def _humanize_timestamp(v: float) -> str:
    if math.isnan(v) or math.isinf(v):
        return goformat.fmt_g(v, 4)
    when = datetime.fromtimestamp(v, UTC)
    frac = f"{when.microsecond:06d}".rstrip("0")
    return when.strftime("%Y-%m-%d %H:%M:%S") + (f".{frac}" if frac else "") + " +0000 UTC"


def _query_escape(s: str) -> str:
    """Go's url.QueryEscape (what ``urlquery`` does): unreserved bytes kept, space as +."""
    out = []
    for b in s.encode("utf-8"):
        ch = chr(b)
        if ch.isascii() and (ch.isalnum() or ch in "-_.~"):
            out.append(ch)
        elif ch == " ":
            out.append("+")
        else:
            out.append(f"%{b:02X}")
    return "".join(out)


def _path_prefix(url: str) -> str:
    m = re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*([^?#]*)", url)
    return m.group(1) if m else ""


def _index(name: str, item: Any, *keys: Any) -> Any:
    for k in keys:
        if isinstance(item, Mapping):
            item = item.get(k, "")
        else:
            raise CallError(f"error calling index: can't index item of type {go_type(item)}")
    return item


def _len(name: str, item: Any) -> int:
    if isinstance(item, str | Mapping | list | tuple):
        return len(item.encode() if isinstance(item, str) else item)
    raise CallError(f"error calling len: len of type {go_type(item)}")


def _sprint(*args: Any) -> str:
    # Go's Sprint puts a space between operands when neither is a string.
    out: list[str] = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_str(a))
    return "".join(out)


Fn = Callable[..., Any]

# name -> (function(name, data, *args), fixed arity or None for variadic)
_TABLE: dict[str, tuple[Fn, int | None]] = {
    "humanize": (lambda n, d, v: goformat.humanize(_float(n, v)), 1),
    "humanize1024": (lambda n, d, v: goformat.humanize1024(_float(n, v)), 1),
    "humanizeDuration": (lambda n, d, v: goformat.humanize_duration(_float(n, v)), 1),
    "humanizePercentage": (lambda n, d, v: goformat.humanize_percentage(_float(n, v)), 1),
    "humanizeTimestamp": (lambda n, d, v: _humanize_timestamp(_float(n, v)), 1),
    "title": (lambda n, d, s: _title(_string(n, s)), 1),
    "toUpper": (lambda n, d, s: _string(n, s).upper(), 1),
    "toLower": (lambda n, d, s: _string(n, s).lower(), 1),
    "match": (lambda n, d, p, s: _go_regex(_string(n, p)).search(_string(n, s)) is not None, 2),
    "reReplaceAll": (lambda n, d, p, r, s: _re_replace_all(_string(n, p), _string(n, r), _string(n, s)), 3),
    "safeHtml": (lambda n, d, s: _string(n, s), 1),
    "stripPort": (lambda n, d, s: _strip_port(_string(n, s)), 1),
    "stripDomain": (lambda n, d, s: _strip_domain(_string(n, s)), 1),
    "parseDuration": (lambda n, d, s: _parse_duration(_string(n, s)), 1),
    "externalURL": (lambda n, d: d.external_url, 0),
    "pathPrefix": (lambda n, d: _path_prefix(d.external_url), 0),
    "not": (lambda n, d, v: not truth(v), 1),
    "len": (lambda n, d, v: _len(n, v), 1),
    "index": (lambda n, d, item, *k: _index(n, item, *k), None),
    "print": (lambda n, d, *a: _sprint(*a), None),
    "println": (lambda n, d, *a: " ".join(go_str(x) for x in a) + "\n", None),
    "printf": (lambda n, d, f, *a: goformat.go_sprintf(_string(n, f), a), None),
    "urlquery": (lambda n, d, *a: _query_escape(_sprint(*a)), None),
    "html": (lambda n, d, *a: _sprint(*a).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
             .replace('"', "&#34;").replace("'", "&#39;"), None),
    "eq": (lambda n, d, a, *b: _eq(n, a, *b), None),
    "ne": (lambda n, d, a, b: not _eq(n, a, b), 2),
    "lt": (lambda n, d, a, b: (lambda x, y: x < y)(*_ordered(n, a, b)), 2),
    "le": (lambda n, d, a, b: (lambda x, y: x <= y)(*_ordered(n, a, b)), 2),
    "gt": (lambda n, d, a, b: (lambda x, y: x > y)(*_ordered(n, a, b)), 2),
    "ge": (lambda n, d, a, b: (lambda x, y: x >= y)(*_ordered(n, a, b)), 2),
    # and/or short-circuit, so the renderer handles them; listed here so they parse.
    "and": (lambda n, d, *a: a[-1], None),
    "or": (lambda n, d, *a: a[-1], None),
}

FUNCS: Mapping[str, Fn] = {name: fn for name, (fn, _) in _TABLE.items()}


def call(name: str, args: list[Any], data: TemplateData) -> Any:
    fn, arity = _TABLE[name]
    if arity is not None and len(args) != arity:
        raise CallError(f"wrong number of args for {name}: want {arity} got {len(args)}")
    if arity is None and name in {"index", "printf", "eq"} and not args:
        raise CallError(f"wrong number of args for {name}: want at least 1 got 0")
    try:
        return fn(name, data, *args)
    except CallError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        raise CallError(f"error calling {name}: {exc}") from None

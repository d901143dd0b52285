"""How Go prints values, so that rule templates render here exactly as in Prometheus.

Covers what templates meet: ``{{ $value }}`` (Go's ``%v`` of a float64: shortest digits, an
exponent from 1e+06 up and below 1e-04), ``printf`` with the common verbs (including Go's
``%!d(float64=1.5)`` for a verb that does not fit its argument), and Prometheus' humanize family.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

_VERB = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d+|\*)?)?([a-zA-Z%])")


def go_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "map[string]string"
    if value is None:
        return "<nil>"
    return type(value).__name__


def _special(v: float) -> str | None:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return None


def _exp_fix(text: str) -> str:
    """Python writes e+5 as e+05 already; keep Go's two-digit minimum and upper forms consistent."""
    return text.replace("inf", "Inf").replace("nan", "NaN")


def format_float_v(v: float) -> str:
    """Go's ``%v`` / ``fmt.Sprint`` of a float64."""
    special = _special(v)
    if special is not None:
        return special
    if v == 0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    sign, digits, exponent = Decimal(repr(v)).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    assert isinstance(exponent, int)
    dp = len(digits) + exponent  # position of the decimal point after the first digit group
    exp = dp - 1
    neg = "-" if sign else ""
    # Go decides with precision 6 when printing the shortest digits: 1e+06 but 100000.
    if exp < -4 or exp >= 6:
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{neg}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if dp <= 0:
        return f"{neg}0.{'0' * -dp}{ds}"
    if dp >= len(ds):
        return f"{neg}{ds}{'0' * (dp - len(ds))}"
    return f"{neg}{ds[:dp]}.{ds[dp:]}"


def go_str(value: Any) -> str:
    """Go's ``%v`` of a template value."""
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format_float_v(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{go_str(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    return str(value)


def fmt_g(v: float, prec: int) -> str:
    """Go's ``%.<prec>g``."""
    special = _special(v)
    if special is not None:
        return special
    return _exp_fix(f"%.{prec}g" % v)


def _quote(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _bad(verb: str, arg: Any) -> str:
    return f"%!{verb}({go_type(arg)}={go_str(arg)})"


def _one(flags: str, width: str | None, prec: str | None, verb: str, arg: Any) -> str:
    pyflags = flags.replace("#", "")
    spec_w = width or ""
    spec_p = f".{prec}" if prec is not None else ""
    if verb == "v":
        text = go_str(arg)
    elif verb == "s":
        if isinstance(arg, str):
            text = arg[: int(prec)] if prec is not None else arg
        elif isinstance(arg, Mapping):
            text = go_str(arg)
        else:
            return _bad(verb, arg)
    elif verb == "q":
        if not isinstance(arg, str):
            return _bad(verb, arg)
        text = _quote(arg)
    elif verb == "t":
        if not isinstance(arg, bool):
            return _bad(verb, arg)
        text = "true" if arg else "false"
    elif verb in "dxXob":
        if not isinstance(arg, int) or isinstance(arg, bool):
            if verb in "xX" and isinstance(arg, str):
                text = arg.encode().hex()
                return text.upper() if verb == "X" else text
            return _bad(verb, arg)
        return f"%{pyflags}{spec_w}{verb}" % arg
    elif verb in "eEfFgG":
        if not isinstance(arg, float):
            return _bad(verb, arg)
        special = _special(arg)
        if special is not None:
            text = special
        elif verb in "gG" and prec is None:
            text = format_float_v(arg)
            if "e" in text and verb == "G":
                text = text.upper()
        else:
            text = _exp_fix(f"%{pyflags}{spec_p}{verb}" % arg)
    else:
        return f"%!{verb}({go_type(arg)}={go_str(arg)})"
    if width:
        w = int(width)
        pad = "0" if "0" in flags and verb in "eEfFgGv" else " "
        text = text.ljust(w) if "-" in flags else text.rjust(w, pad)
    return text


def go_sprintf(fmt: str, args: Sequence[Any]) -> str:
    """Go's ``fmt.Sprintf`` for the verbs templates use (v s q t d x X o b e E f F g G)."""
    out: list[str] = []
    pos = 0
    i = 0
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, width, prec, verb = m.group(1), m.group(2), m.group(3), m.group(4)
        if verb == "%":
            out.append("%")
            continue
        if width == "*" or prec == "*":
            out.append("%!(BADWIDTH)")
            continue
        if i >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_one(flags, width, prec, verb, args[i]))
        i += 1
    out.append(fmt[pos:])
    if i < len(args):
        extra = ", ".join(f"{go_type(a)}={go_str(a)}" for a in args[i:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


# -- Prometheus' humanize family ------------------------------------------------------------------


def humanize(v: float) -> str:
    """1234567 -> 1.235M; 0.001234 -> 1.234m (SI prefixes, four significant digits)."""
    if v == 0 or math.isnan(v) or math.isinf(v):
        return fmt_g(v, 4)
    prefix = ""
    if abs(v) >= 1:
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix = p
            v /= 1000
        return fmt_g(v, 4) + prefix
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return fmt_g(v, 4) + prefix


def humanize1024(v: float) -> str:
    """1073741824 -> 1Gi (binary prefixes)."""
    if abs(v) <= 1 or math.isnan(v) or math.isinf(v):
        return fmt_g(v, 4)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(v) < 1024:
            break
        prefix = p
        v /= 1024
    return fmt_g(v, 4) + prefix


def humanize_duration(v: float) -> str:
    """90061 -> 1d 1h 1m 1s; 0.25 -> 250ms."""
    if math.isnan(v) or math.isinf(v):
        return fmt_g(v, 4)
    if v == 0:
        return fmt_g(v, 4) + "s"
    if abs(v) >= 1:
        sign = "-" if v < 0 else ""
        v = abs(v)
        total = int(v)
        seconds, minutes = total % 60, (total // 60) % 60
        hours, days = (total // 3600) % 24, total // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{fmt_g(v, 4)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return f"{fmt_g(v, 4)}{prefix}s"


def humanize_percentage(v: float) -> str:
    """0.1234 -> 12.34%."""
    return fmt_g(v * 100, 4) + "%"

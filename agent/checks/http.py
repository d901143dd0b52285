"""http: a URL answers with an expected status and a body matching a pattern; latency recorded."""

from __future__ import annotations

import os
import re
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agent.checks import CRITICAL, OK, WARNING, PerfValue
from agent.config import CheckConfig, Section, as_bool, as_duration, as_int, as_path, as_regex, as_str

_BODY_LIMIT = 1 << 20


def _statuses(v: Any) -> tuple[int, ...]:
    items = v if isinstance(v, list) else [v]
    conv = as_int(100, 599)
    return tuple(conv(i) for i in items)


def options(sec: Section) -> dict[str, Any]:
    url = sec.require("url", as_str)
    if urlsplit(url).scheme not in {"http", "https"}:
        raise sec.fail("url", "must be an http:// or https:// URL")
    ca = sec.get("ca_file", None, as_path)
    if ca is not None and not os.path.isfile(ca):
        raise sec.fail("ca_file", f"{ca} is not a readable file")
    return {
        "url": url,
        "status": sec.get("status", (200,), _statuses),
        "body_pattern": sec.get("body_pattern", None, as_regex),
        "ca_file": ca,
        "verify_tls": sec.get("verify_tls", True, as_bool),
        "warning_latency": sec.get("warning_latency", None, as_duration(0, 3600)),
    }


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect is an answer in its own right: `status: 301` must be checkable.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class HttpCheck:
    def __init__(self, opts: dict[str, Any]) -> None:
        self._url = opts["url"]
        self._expect = opts["status"]
        self._body = re.compile(opts["body_pattern"]) if opts["body_pattern"] else None
        self._warn = opts["warning_latency"]
        handlers: list[Any] = [_NoRedirect()]
        if self._url.startswith("https:"):
            ctx = ssl.create_default_context(cafile=str(opts["ca_file"]) if opts["ca_file"] else None)
            if not opts["verify_tls"]:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            handlers.append(urllib.request.HTTPSHandler(context=ctx))
        self._opener = urllib.request.build_opener(*handlers)

    def run(self, timeout: float) -> tuple[int, str, tuple[PerfValue, ...]]:
        start = time.perf_counter()
        req = urllib.request.Request(self._url, headers={"User-Agent": "upkeep-agent"})  # noqa: S310
        try:
            with self._opener.open(req, timeout=timeout) as resp:
                status, body = resp.status, resp.read(_BODY_LIMIT)
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read(_BODY_LIMIT)
            exc.close()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return CRITICAL, f"HTTP CRITICAL - {self._url}: {reason}", ()
        took = time.perf_counter() - start
        perf = (PerfValue("time", took, "s"), PerfValue("size", float(len(body)), "B"))
        head = f"HTTP/{status} in {took:.3f} s"
        if status not in self._expect:
            want = "/".join(map(str, self._expect))
            return CRITICAL, f"HTTP CRITICAL - {head}, expected {want}", perf
        if self._body is not None and not self._body.search(body.decode("utf-8", "replace")):
            return CRITICAL, f"HTTP CRITICAL - {head}, body does not match '{self._body.pattern}'", perf
        if self._warn is not None and took > self._warn:
            return WARNING, f"HTTP WARNING - {head}, slower than {self._warn:g} s", perf
        return OK, f"HTTP OK - {head}", perf


def make(cfg: CheckConfig, state_dir: Path | None) -> HttpCheck:
    return HttpCheck(dict(cfg.options))

"""Reading an agent's report body: size caps, gzip, JSON, then every field checked by hand.

Hand-written checks (not a pydantic model per sample) because ingest validates
tens of thousands of samples a second; each refusal names the field it is about,
e.g. ``reports[3].samples[12].value``, so the agent's operator sees what is wrong.

A well-formed report, the usual case, takes a quicker way: msgspec decodes it straight into
typed structs (types checked in C while parsing, no dict per sample), and only what types
cannot say is checked here. Anything that way does not accept, for whatever reason, is read
again the slow way, which alone decides what is refused and with which message: the quick way
accepts a subset of what the slow one does and gives the same reports for it.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
import orjson

from collector.config.server import IngestConfig
from collector.errors import InvalidInput, PayloadTooLarge

_AGENT_ID = re.compile(r"[0-9a-f]{32}")
_METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
MAX_NAME = 200
MAX_LABELS = 32
MAX_LABEL_VALUE = 1024
MAX_CHECKS = 200
MAX_OUTPUT = 4096
MAX_FACTS_DEPTH = 4


@dataclass(slots=True)
class Report:
    agent_id: str
    seq: int
    ts: float
    interval: float
    agent_version: str
    facts: dict[str, Any] | None
    samples: list[tuple[str, dict[str, str], float]]
    checks: list[dict[str, Any]]


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """The body as sent, un-gzipped when ``encoding`` says so; refuses more than ``limit`` bytes out."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise InvalidInput(f"unsupported Content-Encoding {encoding!r} (use gzip)", field="Content-Encoding")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise InvalidInput("the body is not valid gzip", field="body") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"the decompressed body is over {limit} bytes")
    if not inflater.eof:
        raise InvalidInput("the gzip stream is truncated", field="body")
    return out


def parse_body(data: bytes, *, now: float, limits: IngestConfig, max_age: float) -> list[Report]:
    """One report or a ``{"reports": [...]}`` batch, validated; raises InvalidInput naming the field."""
    quick = _quick(data, now, limits, max_age)
    if quick is not None:
        return quick
    return _parse_slowly(data, now=now, limits=limits, max_age=max_age)


def _parse_slowly(data: bytes, *, now: float, limits: IngestConfig, max_age: float) -> list[Report]:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the body is not valid JSON ({str(exc).split(':')[0]})", field="body") from None
    if not isinstance(doc, dict):
        raise InvalidInput('expected a report object or {"reports": [...]}', field="body")
    if "reports" in doc and "agent_id" not in doc:
        batch = doc["reports"]
        if not isinstance(batch, list) or not batch:
            raise InvalidInput("expected a non-empty list of reports", field="reports")
        if len(batch) > limits.max_batch:
            raise InvalidInput(f"at most {limits.max_batch} reports per request", field="reports")
        return [
            parse_report(r, f"reports[{i}].", now=now, limits=limits, max_age=max_age)
            for i, r in enumerate(batch)
        ]
    return [parse_report(doc, "", now=now, limits=limits, max_age=max_age)]


def _number(v: object, field: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise InvalidInput("expected a number", field=field)
    f = float(v)
    if not math.isfinite(f):
        raise InvalidInput("expected a finite number", field=field)
    return f


def parse_report(doc: object, at: str, *, now: float, limits: IngestConfig, max_age: float) -> Report:
    if not isinstance(doc, dict):
        raise InvalidInput("expected a report object", field=at.rstrip(".") or "body")
    v = doc.get("v", 1)
    if v != 1 or isinstance(v, bool):
        raise InvalidInput("unsupported report version (expected 1)", field=f"{at}v")
    agent_id = doc.get("agent_id")
    if not isinstance(agent_id, str) or not _AGENT_ID.fullmatch(agent_id):
        raise InvalidInput("expected 32 lower-case hex characters", field=f"{at}agent_id")
    seq = doc.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq < 2**63:
        raise InvalidInput("expected an integer >= 1", field=f"{at}seq")
    ts = _number(doc.get("ts"), f"{at}ts")
    if ts > now + limits.max_clock_skew:
        raise InvalidInput(
            f"{ts - now:.0f}s in the future (more than {limits.max_clock_skew:.0f}s); check the host's clock",
            field=f"{at}ts",
        )
    if ts < now - max_age:
        raise InvalidInput(
            f"{now - ts:.0f}s old, older than the report log keeps; check the host's clock", field=f"{at}ts"
        )
    interval = doc.get("interval", 15.0)
    interval = _number(interval, f"{at}interval")
    if not 1.0 <= interval <= 3600.0:
        raise InvalidInput("expected seconds between 1 and 3600", field=f"{at}interval")
    version = doc.get("agent_version", "")
    if not isinstance(version, str) or len(version) > 64:
        raise InvalidInput("expected a short string", field=f"{at}agent_version")
    facts = doc.get("facts")
    if facts is not None:
        if not isinstance(facts, dict):
            raise InvalidInput("expected an object", field=f"{at}facts")
        _check_facts(facts, f"{at}facts", 1)
    return Report(
        agent_id,
        seq,
        ts,
        interval,
        version,
        facts,
        _samples(doc.get("samples", []), f"{at}samples", limits.max_samples),
        _checks(doc.get("checks", []), f"{at}checks"),
    )


def _check_facts(value: object, field: str, depth: int) -> None:
    if depth > MAX_FACTS_DEPTH:
        raise InvalidInput("nested too deeply", field=field)
    if isinstance(value, dict):
        if len(value) > 200:
            raise InvalidInput("too many keys", field=field)
        for k, v in value.items():
            _check_facts(v, f"{field}.{k}", depth + 1)
    elif isinstance(value, list):
        if len(value) > 200:
            raise InvalidInput("too many items", field=field)
        for i, v in enumerate(value):
            _check_facts(v, f"{field}[{i}]", depth + 1)
    elif isinstance(value, str):
        if len(value) > 16384:
            raise InvalidInput("string too long", field=field)
    elif value is not None and not isinstance(value, int | float | bool):
        raise InvalidInput("unexpected value", field=field)


# Names already found valid: a fleet repeats the same few hundred names every report, so the
# regular expressions run once per name rather than once per sample. Bounded, since names come
# from the network.
_VALID_NAMES: set[str] = set()
_VALID_LABELS: set[str] = set()
_CACHE_LIMIT = 100_000


def _valid_name(name: object) -> bool:
    if type(name) is not str:
        return False
    if name in _VALID_NAMES:
        return True
    if len(name) > MAX_NAME or not _METRIC.fullmatch(name):
        return False
    if len(_VALID_NAMES) < _CACHE_LIMIT:
        _VALID_NAMES.add(name)
    return True


def _valid_label(label: str) -> bool:
    if label in _VALID_LABELS:
        return True
    if len(label) > MAX_NAME or label.startswith("__") or not _LABEL.fullmatch(label):
        return False
    if len(_VALID_LABELS) < _CACHE_LIMIT:
        _VALID_LABELS.add(label)
    return True


def _samples(raw: object, field: str, limit: int) -> list[tuple[str, dict[str, str], float]]:
    if not isinstance(raw, list):
        raise InvalidInput("expected a list", field=field)
    if len(raw) > limit:
        raise InvalidInput(f"at most {limit} samples per report", field=field)
    out: list[tuple[str, dict[str, str], float]] = []
    append = out.append
    names, label_names = _VALID_NAMES, _VALID_LABELS
    # The checks are inlined (a set lookup first, the full check only for a name not seen yet):
    # this loop runs for every sample ingested.
    for i, s in enumerate(raw):
        if type(s) is not dict:
            raise InvalidInput("expected a sample object", field=f"{field}[{i}]")
        name = s.get("name")
        if type(name) is not str or (name not in names and not _valid_name(name)):
            raise InvalidInput("expected a metric name like node_load1", field=f"{field}[{i}].name")
        labels = s.get("labels")
        if labels is None:
            labels = {}
        elif type(labels) is not dict or len(labels) > MAX_LABELS:
            raise InvalidInput(
                f"expected an object of at most {MAX_LABELS} labels", field=f"{field}[{i}].labels"
            )
        elif labels:
            for k, lv in labels.items():
                if k not in label_names and not _valid_label(k):
                    raise InvalidInput(f"invalid label name {k[:50]!r}", field=f"{field}[{i}].labels")
                if type(lv) is not str or len(lv) > MAX_LABEL_VALUE:
                    raise InvalidInput("expected a string label value", field=f"{field}[{i}].labels.{k}")
        value = s.get("value")
        if type(value) is not float:
            value = _number(value, f"{field}[{i}].value")
        elif value - value != 0.0:  # inf - inf and nan - nan are nan
            raise InvalidInput("expected a finite number", field=f"{field}[{i}].value")
        append((name, labels, value))
    return out


def _checks(raw: object, field: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise InvalidInput("expected a list", field=field)
    if len(raw) > MAX_CHECKS:
        raise InvalidInput(f"at most {MAX_CHECKS} checks per report", field=field)
    out = []
    for i, c in enumerate(raw):
        at = f"{field}[{i}]"
        if not isinstance(c, dict):
            raise InvalidInput("expected a check object", field=at)
        name, kind = c.get("name"), c.get("kind", "")
        if not isinstance(name, str) or not name or len(name) > MAX_NAME:
            raise InvalidInput("expected a check name", field=f"{at}.name")
        if not isinstance(kind, str) or len(kind) > 64:
            raise InvalidInput("expected a short string", field=f"{at}.kind")
        status = c.get("status")
        if isinstance(status, bool) or status not in (0, 1, 2, 3):
            raise InvalidInput(
                "expected 0 (OK), 1 (WARNING), 2 (CRITICAL) or 3 (UNKNOWN)", field=f"{at}.status"
            )
        output = c.get("output", "")
        if not isinstance(output, str):
            raise InvalidInput("expected a string", field=f"{at}.output")
        duration = _number(c.get("duration", 0.0), f"{at}.duration")
        out.append(_check_entry(name, kind, int(status), output, duration))
    return out


def _check_entry(name: str, kind: str, status: int, output: str, duration: float) -> dict[str, Any]:
    """A check result as reports carry it on (its output cut to MAX_OUTPUT)."""
    return {"name": name, "kind": kind, "status": status, "output": output[:MAX_OUTPUT], "duration": duration}


# -- the quick way -------------------------------------------------------------------------------
# Field for field the slow way's, with types as strict as its checks or stricter (an int where it
# also takes 1.0, no null where it takes one): whatever these refuse is read again the slow way.
_LabelValue = Annotated[str, msgspec.Meta(max_length=MAX_LABEL_VALUE)]


class _Sample(msgspec.Struct):
    name: str
    value: float
    labels: Annotated[dict[str, _LabelValue], msgspec.Meta(max_length=MAX_LABELS)] = {}


class _Check(msgspec.Struct):
    name: str
    status: int
    kind: str = ""
    output: str = ""
    duration: float = 0.0


class _Report(msgspec.Struct):
    agent_id: str
    seq: int
    ts: float
    v: int = 1
    interval: float = 15.0
    agent_version: str = ""
    facts: dict[str, Any] | None = None
    samples: list[_Sample] = []
    checks: list[_Check] = []


class _Batch(msgspec.Struct):
    reports: list[_Report]


_REPORT = msgspec.json.Decoder(_Report)
_BATCH = msgspec.json.Decoder(_Batch)


def _quick(data: bytes, now: float, limits: IngestConfig, max_age: float) -> list[Report] | None:
    """The reports if every check passes the quick way, else None (then the slow way decides)."""
    try:
        docs = [_REPORT.decode(data)]
    except Exception:  # any refusal (msgspec's errors, a recursion limit): the slow way says why
        try:
            docs = _BATCH.decode(data).reports
        except Exception:
            return None
        if not docs or len(docs) > limits.max_batch:
            return None
    out = []
    for d in docs:
        r = _quick_report(d, now, limits, max_age)
        if r is None:
            return None
        out.append(r)
    return out


def _quick_report(d: _Report, now: float, limits: IngestConfig, max_age: float) -> Report | None:
    if (
        d.v != 1
        or not _AGENT_ID.fullmatch(d.agent_id)
        or not 1 <= d.seq < 2**63
        or not now - max_age <= d.ts <= now + limits.max_clock_skew
        or not 1.0 <= d.interval <= 3600.0
        or len(d.agent_version) > 64
        or len(d.samples) > limits.max_samples
        or len(d.checks) > MAX_CHECKS
    ):
        return None
    if d.facts is not None:
        try:
            _check_facts(d.facts, "facts", 1)
        except InvalidInput:
            return None
    samples: list[tuple[str, dict[str, str], float]] = []
    append = samples.append
    names, label_names = _VALID_NAMES, _VALID_LABELS
    # Label counts and value lengths were checked while decoding; numbers are finite (JSON has no
    # NaN, and msgspec refuses a number out of a float's range).
    for s in d.samples:
        name, labels = s.name, s.labels
        if name not in names and not _valid_name(name):
            return None
        if labels and not label_names.issuperset(labels) and not all(map(_valid_label, labels)):
            return None
        append((name, labels, s.value))
    checks = []
    for c in d.checks:
        if (
            not c.name
            or len(c.name) > MAX_NAME
            or len(c.kind) > 64
            or c.status not in (0, 1, 2, 3)
        ):
            return None
        checks.append(_check_entry(c.name, c.kind, c.status, c.output, c.duration))
    return Report(d.agent_id, d.seq, d.ts, d.interval, d.agent_version, d.facts, samples, checks)

"""Reading report bodies: every malformed case is an InvalidInput naming its field, or a 413."""

from __future__ import annotations

import gzip
import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.api.errors import PayloadTooLarge
from collector.config.server import IngestConfig
from collector.errors import InvalidInput
from collector.services.ingest_parse import decompress, parse_body
from tests.collector.reports import report

NOW = 1_795_000_000.0
LIMITS = IngestConfig()
AID = "0123456789abcdef0123456789abcdef"


def parse(doc: Any) -> Any:
    # The standard library writes integers of any size, as a misbehaving agent might.
    return parse_body(json.dumps(doc).encode(), now=NOW, limits=LIMITS, max_age=7 * 86400)


def test_a_good_report_and_a_batch() -> None:
    (one,) = parse(report(AID, 1, NOW))
    assert (one.agent_id, one.seq, one.ts, len(one.samples)) == (AID, 1, NOW, 3)
    assert one.samples[1] == ("node_filesystem_avail_bytes", {"mountpoint": "/m1"}, 1.0)
    batch = parse({"reports": [report(AID, 1, NOW), report(AID, 2, NOW)]})
    assert [r.seq for r in batch] == [1, 2]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"agent_id": "XYZ"}, "agent_id"),
        ({"seq": 0}, "seq"),
        ({"seq": "1"}, "seq"),
        ({"seq": True}, "seq"),
        ({"ts": "now"}, "ts"),
        ({"ts": NOW + 3600}, "ts"),
        ({"ts": NOW - 30 * 86400}, "ts"),
        ({"v": 2}, "v"),
        ({"interval": 0}, "interval"),
        ({"facts": []}, "facts"),
        ({"facts": {"a": {"b": {"c": {"d": {"e": 1}}}}}}, "facts.a.b.c.d"),
        ({"samples": {}}, "samples"),
        ({"samples": [1]}, "samples[0]"),
        ({"samples": [{"name": "1bad", "value": 1}]}, "samples[0].name"),
        ({"samples": [{"name": "ok", "labels": {"__x": "y"}, "value": 1}]}, "samples[0].labels"),
        ({"samples": [{"name": "ok", "labels": {"a": 1}, "value": 1}]}, "samples[0].labels.a"),
        ({"samples": [{"name": "ok", "value": "1"}]}, "samples[0].value"),
        ({"samples": [{"name": "ok", "value": None}]}, "samples[0].value"),
        ({"samples": [{"name": "ok", "value": False}]}, "samples[0].value"),
        ({"samples": [{"name": "ok", "value": 1}] * 5001}, "samples"),
        ({"checks": [{"name": "c", "status": 4}]}, "checks[0].status"),
        ({"checks": [{"name": "", "status": 0}]}, "checks[0].name"),
        ({"checks": [{"name": "c", "status": 0, "output": 3}]}, "checks[0].output"),
    ],
)
def test_each_bad_field_is_named(change: dict[str, Any], field: str) -> None:
    doc = report(AID, 1, NOW)
    doc.update(change)
    with pytest.raises(InvalidInput) as info:
        parse(doc)
    assert info.value.field == field
    with pytest.raises(InvalidInput) as info:
        parse({"reports": [report(AID, 1, NOW), doc]})
    assert info.value.field == f"reports[1].{field}"


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"[1,2]", b"null", b'"x"', b'{"reports": []}', b'{"reports": 5}', b"\xff\xfe", b"[" * 5000],
)
def test_malformed_bodies(body: bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_body(body, now=NOW, limits=LIMITS, max_age=86400)


def test_non_finite_values_are_refused() -> None:
    # JSON has no NaN; orjson refuses the Infinity/NaN literals some encoders write.
    body = orjson.dumps(report(AID, 1, NOW)).replace(b'"value":1.0', b'"value":NaN', 1)
    with pytest.raises(InvalidInput):
        parse_body(body, now=NOW, limits=LIMITS, max_age=86400)
    huge = orjson.dumps(report(AID, 1, NOW)).replace(b'"value":1.0', b'"value":1e999', 1)
    with pytest.raises(InvalidInput):
        parse_body(huge, now=NOW, limits=LIMITS, max_age=86400)
    big_seq = orjson.dumps(report(AID, 1, NOW)).replace(b'"seq":1', b'"seq":99999999999999999999999', 1)
    with pytest.raises(InvalidInput):
        parse_body(big_seq, now=NOW, limits=LIMITS, max_age=86400)


def test_too_big_a_batch() -> None:
    with pytest.raises(InvalidInput) as info:
        parse({"reports": [report(AID, i + 1, NOW) for i in range(LIMITS.max_batch + 1)]})
    assert info.value.field == "reports"


def test_gzip_is_read_and_bombs_are_refused() -> None:
    plain = orjson.dumps(report(AID, 1, NOW))
    assert decompress(gzip.compress(plain), "gzip", 10_000) == plain
    bomb = gzip.compress(b"0" * 50_000_000)
    assert len(bomb) < 100_000
    with pytest.raises(PayloadTooLarge):
        decompress(bomb, "gzip", 8_000_000)
    with pytest.raises(InvalidInput):
        decompress(b"not gzip at all", "gzip", 1000)
    with pytest.raises(InvalidInput):
        decompress(gzip.compress(plain)[:-10], "gzip", 10_000)
    with pytest.raises(InvalidInput):
        decompress(plain, "br", 10_000)


def _refusal(doc: Any) -> InvalidInput | None:
    """None when the document parses; the InvalidInput otherwise (any other exception fails the test)."""
    try:
        parse(doc)
    except InvalidInput as exc:
        return exc
    return None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_is_accepted_or_refused_with_a_field(doc: Any) -> None:
    refusal = _refusal(doc)
    assert refusal is None or str(refusal)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["agent_id", "seq", "ts", "samples", "checks", "facts", "v", "interval"]),
        json_values,
        max_size=8,
    )
)
def test_mutated_reports_never_raise_anything_else(change: dict[str, Any]) -> None:
    doc = report(AID, 1, NOW)
    doc.update(change)
    refusal = _refusal(doc)
    assert refusal is None or refusal.field

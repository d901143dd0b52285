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
from collector.services.ingest_parse import _parse_slowly, _quick, decompress, parse_body
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
    [
        b"", b"{", b"[1,2]", b"null", b'"x"', b'{"reports": []}', b'{"reports": 5}', b"\xff\xfe", b"[" * 5000,
        # nested deeper than any parser here recurses, in a field no report has
        f'{{"agent_id": "{AID}", "seq": 1, "ts": {NOW}, "x": '.encode() + b"[" * 5000 + b"]" * 5000 + b"}",
    ],
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


# -- the quick way and the slow way ---------------------------------------------------------------
def _slowly(body: bytes) -> Any:
    try:
        return _parse_slowly(body, now=NOW, limits=LIMITS, max_age=7 * 86400)
    except InvalidInput as exc:
        return exc


def test_a_well_formed_report_and_batch_take_the_quick_way() -> None:
    one = orjson.dumps(report(AID, 1, NOW, samples=5))
    quick = _quick(one, NOW, LIMITS, 7 * 86400)
    assert quick is not None
    assert repr(quick) == repr(_slowly(one))
    batch = orjson.dumps({"reports": [report(AID, 1, NOW), report(AID, 2, NOW, facts={"os": "Linux"})]})
    quick = _quick(batch, NOW, LIMITS, 7 * 86400)
    assert quick is not None
    assert [r.seq for r in quick] == [1, 2]
    assert repr(quick) == repr(_slowly(batch))


def _check(**fields: Any) -> dict[str, Any]:
    return {"name": "c", "status": 0, **fields}


def _sample(**fields: Any) -> dict[str, Any]:
    return {"name": "ok", "value": 1, **fields}


@pytest.mark.parametrize(
    ("change", "accepted"),
    [
        ({"ts": NOW + 300}, True),
        ({"ts": NOW + 301}, False),
        ({"ts": NOW - 7 * 86400}, True),
        ({"ts": NOW - 7 * 86400 - 1}, False),
        ({"seq": 2**63 - 1}, True),
        ({"seq": 2**63}, False),
        ({"seq": 0}, False),
        ({"interval": 3600}, True),
        ({"interval": 3600.5}, False),
        ({"interval": 0.5}, False),
        ({"v": 2}, False),
        ({"agent_id": "0123456789ABCDEF0123456789ABCDEF"}, False),
        ({"agent_version": "x" * 64}, True),
        ({"agent_version": "x" * 65}, False),
        ({"facts": {"os": {"name": "Linux", "cpus": [1, 2]}}}, True),
        ({"facts": {"a": {"b": {"c": {"d": {"e": 1}}}}}}, False),
        ({"facts": {"k": "x" * 16385}}, False),
        ({"samples": [_sample(labels={"a": "x" * 1024})]}, True),
        ({"samples": [_sample(labels={"a": "x" * 1025})]}, False),
        ({"samples": [_sample(labels={f"l{i}": "x" for i in range(32)})]}, True),
        ({"samples": [_sample(labels={f"l{i}": "x" for i in range(33)})]}, False),
        ({"samples": [_sample(labels={"fresh_label": "x", "1a": "y"})]}, False),
        ({"samples": [_sample(labels={"__name__": "y"})]}, False),
        ({"samples": [_sample(name="n" * 200)]}, True),
        ({"samples": [_sample(name="n" * 201)]}, False),
        ({"samples": [_sample(name="a-b")]}, False),
        ({"samples": [_sample(value=-1.5e300)]}, True),
        ({"samples": [_sample()] * LIMITS.max_samples}, True),
        ({"samples": [_sample()] * (LIMITS.max_samples + 1)}, False),
        ({"checks": [_check(kind="k" * 64, output="o" * 5000, duration=2)]}, True),
        ({"checks": [_check(kind="k" * 65)]}, False),
        ({"checks": [_check(name="n" * 201)]}, False),
        ({"checks": [_check(name="")]}, False),
        ({"checks": [_check(status=4)]}, False),
        ({"checks": [_check(status=-1)]}, False),
        ({"checks": [_check(duration="1")]}, False),
        ({"checks": [_check()] * 201}, False),
    ],
)
def test_the_quick_way_refuses_what_the_slow_way_refuses(change: dict[str, Any], accepted: bool) -> None:
    doc = report(AID, 1, NOW)
    doc.update(change)
    for body in (orjson.dumps(doc), orjson.dumps({"reports": [report(AID, 2, NOW), doc]})):
        slow = _slowly(body)
        quick = _quick(body, NOW, LIMITS, 7 * 86400)
        assert isinstance(slow, list) is accepted
        if accepted:
            assert repr(quick) == repr(slow)
        else:
            assert quick is None


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Good values, with bad ones among them: a tenth of the branches."""
    return st.one_of(*[good] * 9, bad)


names = mostly(
    st.sampled_from(["node_load1", "ok:sum"]), st.sampled_from(["1bad", "", "a" * 201]) | json_values
)
label_names = mostly(
    st.sampled_from(["mountpoint", "cpu"]),
    st.sampled_from(["__x", "1a", "", "a" * 201]) | st.text(max_size=3),
)
label_values = mostly(st.sampled_from(["/", "x" * 1024]), st.sampled_from(["x" * 1025]) | json_values)
numbers = mostly(
    st.integers(0, 3) | st.floats(0, 3),
    st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([True, None, "1"]),
)
samples = st.fixed_dictionaries(
    {"name": names, "value": numbers},
    optional={
        "labels": mostly(st.dictionaries(label_names, label_values, max_size=3), st.none() | json_values)
    },
)
checks = st.fixed_dictionaries(
    {
        "name": mostly(st.just("nginx"), st.sampled_from(["", "n" * 201]) | json_values),
        "status": mostly(st.integers(0, 3), numbers),
    },
    optional={
        "kind": mostly(st.just("process"), st.sampled_from(["k" * 65]) | json_values),
        "output": mostly(st.text(max_size=5), json_values),
        "duration": numbers,
    },
)
tops = st.just({}) | st.dictionaries(
    st.sampled_from(["v", "seq", "ts", "interval", "agent_version", "facts", "agent_id", "reports"]),
    st.sampled_from([NOW - 8 * 86400, NOW - 7 * 86400, NOW + 300, NOW + 301, 1.0, 2**63, 2**63 - 1, 3600])
    | json_values,
    max_size=1,
)


@settings(max_examples=500, deadline=None)
@given(st.lists(samples, max_size=3), st.lists(checks, max_size=2), tops, st.booleans())
def test_what_the_quick_way_accepts_the_slow_way_gives_alike(
    sample_list: list[Any], check_list: list[Any], change: dict[str, Any], batched: bool
) -> None:
    doc = report(AID, 1, NOW)
    doc["samples"] += sample_list
    doc["checks"] += check_list
    doc.update(change)
    body = json.dumps({"reports": [doc]} if batched else doc).encode()
    quick = _quick(body, NOW, LIMITS, 7 * 86400)
    if quick is not None:
        assert repr(quick) == repr(_slowly(body))


def test_a_real_agents_report_takes_the_quick_way() -> None:
    from agent.checks.runner import CheckRunner
    from agent.collection import Collection
    from agent.config import parse_config
    from agent.report import encode_report

    cfg = parse_config({"checks": [{"name": "py", "kind": "process", "name_pattern": "python"}]})
    collection = Collection(cfg, AID, CheckRunner(cfg.checks, None))
    try:
        doc = collection.collect(7)
    finally:
        collection.close()
    body = encode_report(doc)
    quick = _quick(body, doc["ts"], LIMITS, 7 * 86400)
    assert quick is not None
    assert len(quick[0].samples) > 20
    assert quick[0].facts
    assert repr(quick) == repr(_parse_slowly(body, now=doc["ts"], limits=LIMITS, max_age=7 * 86400))


def test_a_repeated_key_counts_once_and_the_last_wins_both_ways() -> None:
    body = (
        f'{{"agent_id": "{AID}", "seq": 1, "seq": 2, "ts": {NOW},'
        ' "samples": [{"name": "a", "value": 1}],'
        ' "samples": [{"name": "b", "value": 1, "value": 3, "labels": {"x": "1", "x": "2"}}]}'
    ).encode()
    quick = _quick(body, NOW, LIMITS, 7 * 86400)
    assert quick is not None
    assert (quick[0].seq, quick[0].samples) == (2, [("b", {"x": "2"}, 3.0)])
    assert repr(quick) == repr(_slowly(body))

"""Rule templates render as Prometheus renders them (Go's text/template subset, Go's number printing)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.core.alerting import goformat
from collector.core.alerting.template import Template, TemplateData, TemplateError

DATA = TemplateData({"__name__": "node_load1", "host": "web1", "severity": "critical"}, 93.456,
                    {"site": "hq"}, "https://upkeep.example/ui")


def render(text: str, data: TemplateData = DATA) -> str:
    return Template(text, "__alert_T").render(data)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ $labels.host }} is {{ $value }}", "web1 is 93.456"),
        ("{{ .Labels.host }}/{{ .Value }}", "web1/93.456"),
        ("{{ $value | humanize }}", "93.46"),
        ("{{ printf \"%.1f\" $value }}%", "93.5%"),
        ("{{ $labels.missing }}|", "|"),
        ("{{ $externalLabels.site }} {{ $externalURL }}", "hq https://upkeep.example/ui"),
        ("{{ if gt $value 80.0 }}high{{ else }}low{{ end }}", "high"),
        ("{{ if lt $value 80.0 }}low{{ else if ge $value 90.0 }}very high{{ else }}high{{ end }}",
         "very high"),
        ("{{ if eq $labels.severity \"critical\" \"major\" }}page{{ end }}", "page"),
        ("{{ if ne $labels.host \"web1\" }}other{{ else }}same{{ end }}", "same"),
        ("{{ if and $labels.host (le $value 100.0) }}ok{{ end }}", "ok"),
        ("{{ if or $labels.missing $labels.host }}{{ $labels.host }}{{ end }}", "web1"),
        ("{{ if not $labels.missing }}absent{{ end }}", "absent"),
        ("a {{- \" b \" -}} c", "a b c"),
        ("{{/* a comment */}}x", "x"),
        ("{{ $x := \"v\" }}{{ $x }}{{ $x = \"w\" }}{{ $x }}", "vw"),
        ("{{ $x := 1 }}{{ if true }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}", "21"),
        ("{{ $labels.host | toUpper }} {{ \"MiXeD\" | toLower }} {{ title \"disk full-now\" }}",
         "WEB1 mixed Disk Full-Now"),
        ("{{ humanize1024 1073741824.0 }} {{ humanizePercentage 0.1234 }}", "1Gi 12.34%"),
        ("{{ humanizeDuration 90061 }} {{ humanizeDuration 0.25 }} {{ humanizeDuration 45.5 }}",
         "1d 1h 1m 1s 250ms 45.5s"),
        ("{{ humanize 1234567.0 }} {{ humanize 0.001234 }} {{ humanize 0 }}", "1.235M 1.234m 0"),
        ("{{ humanizeTimestamp 1435065584.128 }}", "2015-06-23 13:19:44.128 +0000 UTC"),
        ("{{ \"3600\" | humanizeDuration }}", "1h 0m 0s"),
        ("{{ reReplaceAll \"(.*)1\" \"${1}X\" $labels.host }}", "webX"),
        ("{{ if match \"^web\" $labels.host }}web{{ end }}", "web"),
        ("{{ stripPort \"db:5432\" }} {{ len $labels.host }} {{ index $labels \"host\" }}", "db 4 web1"),
        ("{{ printf \"%s=%d %v %q\" \"n\" 3 true \"x\" }}", "n=3 true \"x\""),
        ("{{ printf \"%d\" $value }}", "%!d(float64=93.456)"),
        ("{{ $labels.__name__ }}", "node_load1"),
    ],
)
def test_renders_like_prometheus(text: str, expected: str) -> None:
    assert render(text) == expected


def test_int_and_float_do_not_compare_as_in_go() -> None:
    out = render("{{ if gt $value 80 }}x{{ end }}")
    assert out.startswith("<error expanding template: ")
    assert "incompatible types for comparison" in out


@pytest.mark.parametrize(
    "text",
    ["{{ query \"up\" }}", "{{ if $value }}", "{{ end }}", "{{ else }}", "{{ $value",
     "{{ range $labels }}{{ end }}", "{{ \"a\" \"b\" }}", "{{ | toUpper }}", "{{ $nope }}",
     "{{ $y = 1 }}", "{{ if true }}{{ $z := 1 }}{{ end }}{{ $z }}"],
)
def test_a_bad_template_is_refused_when_parsed(text: str) -> None:
    with pytest.raises(TemplateError):
        Template(text, "__alert_T")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.0, "0"), (1.0, "1"), (100000.0, "100000"), (1e6, "1e+06"), (1234567.0, "1.234567e+06"),
     (0.0001, "0.0001"), (0.00001, "1e-05"), (-2.25, "-2.25"), (math.nan, "NaN"), (math.inf, "+Inf"),
     (-math.inf, "-Inf"), (0.1 + 0.2, "0.30000000000000004")],
)
def test_value_prints_as_gos_percent_v(value: float, expected: str) -> None:
    assert goformat.format_float_v(value) == expected


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_the_humanize_family_never_fails(v: float) -> None:
    for fn in (goformat.humanize, goformat.humanize1024, goformat.humanize_duration,
               goformat.humanize_percentage, goformat.format_float_v):
        assert isinstance(fn(v), str)
    if math.isfinite(v):
        assert float(goformat.format_float_v(v)) == v  # shortest digits still round-trip


@given(st.text(alphabet="{}$. |\"abcif()end-", max_size=40))
def test_parsing_random_text_fails_only_with_template_error(text: str) -> None:
    try:
        t = Template(text, "__alert_T")
    except TemplateError:
        return
    assert isinstance(t.render(DATA), str)

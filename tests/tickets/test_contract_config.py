"""The contract section: defaults from the contract text, and mistakes named by key."""

from __future__ import annotations

import pytest

from collector.config import build_config
from collector.config.contracts import Span
from collector.errors import ConfigError


def test_defaults_are_the_contract_texts_promises() -> None:
    cfg = build_config({"customers": [{"name": "acme"}]})
    contract = cfg.customers[0].contract
    assert contract.window == "7x24"
    assert contract.target("critical").response == Span(600.0)
    assert contract.target("normal").response == Span(1800.0)
    assert contract.target("normal").resolution == Span(3600.0)
    assert contract.target("major").resolution == Span(0.0, 1.0)
    assert contract.target("low").onsite == Span(7200.0)
    assert contract.at_risk == 0.8
    assert contract.inspection_cron == "0 2 1 * *"
    assert [lvl.roles for lvl in contract.escalation] == [("lead",), ("expert",), ("manager",)]


def test_five_by_eight_and_unquoted_yaml_times() -> None:
    cfg = build_config(
        {
            "customers": [
                {
                    "name": "acme",
                    "timezone": "Asia/Shanghai",
                    # YAML 1.1 reads an unquoted 09:30 as 570.
                    "contract": {
                        "window": {"start": 570, "end": "19:30"},
                        "holidays": "cn",
                        "starts": "2026-03-01",
                        "targets": {"normal": {"resolution": "2bd1h"}},
                    },
                }
            ]
        }
    )
    c = cfg.customers[0]
    hours = c.contract.business_hours
    assert hours is not None
    assert (hours.start, hours.end, hours.days[-1]) == ("09:30", "19:30", "fri")
    assert c.contract.holidays == "CN"
    assert c.contract.target("normal").resolution == Span(3600.0, 2.0)
    assert c.contract.target("critical").response == Span(600.0)  # defaults kept for the others
    assert str(c.contract.warranty_end) == "2027-03-01"
    assert str(c.contract.support_end) == "2028-03-01"
    assert c.window_timezone == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        (
            {"customers": [{"name": "a", "contract": {"window": {"start": "19:30", "end": "09:30"}}}]},
            "customers.0.contract.window",
        ),
        ({"customers": [{"name": "a", "contract": {"holidays": "XX"}}]}, "customers.0.contract.holidays"),
        (
            {"customers": [{"name": "a", "contract": {"targets": {"urgent": {}}}}]},
            "customers.0.contract.targets.urgent.[key]",
        ),
        ({"engineers": [{"name": "li", "role": "boss"}]}, "engineers.0.role"),
        ({"tickets": {"flap": {"low": 0.5, "high": 0.2}}}, "tickets.flap"),
        ({"notifications": {"webhooks": [{"url": "ftp://x"}]}}, "notifications.webhooks.0.url"),
    ],
)
def test_mistakes_name_the_key(data: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_config(data)
    assert info.value.key.startswith(key.split(".[")[0])

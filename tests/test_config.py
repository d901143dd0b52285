from __future__ import annotations

from pathlib import Path

import pytest

from collector.config import load_config
from collector.config.types import parse_duration, parse_size
from collector.errors import ConfigError


def test_defaults_without_a_file() -> None:
    cfg = load_config(None)
    assert cfg.host == "127.0.0.1"
    assert cfg.storage.url is None


def test_overrides_win_over_the_file(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("listen: 127.0.0.1:9000\n")
    cfg = load_config(f, listen="127.0.0.1:9100", data_dir=tmp_path)
    assert cfg.port == 9100
    assert cfg.data_dir == tmp_path


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("listen_adress: x\n", "listen_adress"),
        ("customers:\n  - name: Acme Corp\n", "customers.0.name"),
        ("customers:\n  - name: acme\n    timezone: Mars/Olympus\n", "customers.0.timezone"),
        ("retention:\n  reports: soon\n", "retention.reports"),
    ],
)
def test_a_wrong_key_or_value_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(f)
    assert info.value.key == key
    assert "\n" not in str(info.value)


def test_durations_and_sizes() -> None:
    assert parse_duration("1h30m") == 5400
    assert parse_duration(15) == 15
    assert parse_size("64KiB") == 65536
    assert parse_size("100MB") == 100_000_000
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("5 minutes")

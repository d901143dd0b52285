"""Removing configured secrets from what is stored and logged."""

from __future__ import annotations

from collections.abc import Iterable

MARK = "[redacted]"


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret replaced by a mark (longest secrets first)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MARK)
    return text

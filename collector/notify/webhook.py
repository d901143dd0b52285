"""POST a JSON event to a webhook URL (TLS verified)."""

from __future__ import annotations

from typing import Any

import httpx

from collector.notify import DeliveryError


def post_json(url: str, payload: dict[str, Any], *, token: str | None = None, timeout: float = 10.0) -> None:
    """Deliver ``payload``; a 2xx answer is success, 408/429/5xx and network errors are retryable."""
    headers = {"User-Agent": "upkeep-collector", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = httpx.post(url, json=payload, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{url}: {type(exc).__name__}: {exc}") from None
    if 200 <= response.status_code < 300:
        return
    retryable = response.status_code in (408, 425, 429) or response.status_code >= 500
    raise DeliveryError(f"{url} answered {response.status_code}", permanent=not retryable)

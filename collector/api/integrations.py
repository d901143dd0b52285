"""``POST /api/v1/integrations/alertmanager``: Alertmanager's webhook (payload version 4).

Alertmanager sends a bearer token (``http_config.authorization.credentials_file``): an API
token with the engineer role. Each alert of the group maps to one ticket per host and
fingerprint, the same ticket the collector's own rule evaluation opens. A malformed payload
is refused whole (422 naming the field) and changes nothing. A customer-scoped token may
only send its own customer's alerts.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request

from collector.api.auth import Principal, require
from collector.errors import InvalidInput, NotFound
from collector.services.alertmanager import parse_alertmanager

router = APIRouter(tags=["integrations"])


@router.post("/api/v1/integrations/alertmanager")
async def alertmanager(request: Request, who: Principal = Depends(require("engineer"))) -> dict[str, Any]:
    try:
        payload = json.loads(await request.body())
    except ValueError:
        raise InvalidInput("the body is not valid JSON", field="body") from None
    for a in parse_alertmanager(payload, default_customer=who.customer):
        if not who.can_see(a.customer):
            raise NotFound("customer", a.customer)
    ctx = request.app.state.ctx
    results = ctx.areas["tickets"].alertmanager(payload, ctx.clock.now(), default_customer=who.customer)
    return {"alerts": results}

"""``/healthz`` (the process answers) and ``/readyz`` (the store answers too)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """200 once start-up is over and the database answers (503 otherwise). Ingest runs while the
    recent window is still being rebuilt from the report log: ``window`` says which."""
    try:
        with request.app.state.ctx.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return JSONResponse({"status": "unavailable", "error": str(exc).splitlines()[0]}, status_code=503)
    ingest = request.app.state.ctx.areas.get("ingest")
    window = "rebuilding" if ingest is not None and ingest.rebuilding else "ready"
    return JSONResponse({"status": "ready", "window": window})

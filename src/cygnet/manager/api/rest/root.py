"""Unauthenticated endpoints: version discovery and health."""

from __future__ import annotations

from fastapi import APIRouter

from cygnet import __version__
from cygnet.common.auth import API_VERSION

router = APIRouter(tags=["meta"])


@router.get("/", summary="API version discovery")
async def version() -> dict[str, str]:
    return {"version": API_VERSION, "manager": __version__}


@router.get("/health", summary="Liveness")
async def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}

"""OpenFeature Remote Evaluation Protocol (``/ofrep/v1``)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/ofrep/v1", tags=["ofrep"])

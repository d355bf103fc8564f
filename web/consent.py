"""Consent on the web: a nudge's signed links, and a participant's candidates (issue 9)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

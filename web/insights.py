"""The managers' page: candidates, nudges, decisions and reach over time (issue 9)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

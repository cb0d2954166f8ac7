"""Reporters: render the deploy core's events and results as text, JSON or GitHub outputs."""

from __future__ import annotations

from pipeline.report.base import Reporter
from pipeline.report.factory import make_reporter

__all__ = ["Reporter", "make_reporter"]

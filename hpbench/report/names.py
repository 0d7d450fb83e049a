"""The report's section names, in the order a report prints them: the one list that
``hpbench report --section`` offers and :mod:`hpbench.report.sections` renders (a leaf: the CLI
reads it without importing pandas or the sections)."""

from __future__ import annotations

import enum


class SectionName(enum.StrEnum):
    LEADERBOARD = "leaderboard"
    COST = "cost"
    MATTERS = "matters"
    SAVINGS = "savings"
    CURVES = "curves"
    PREDICTION = "prediction"
    DEVICES = "devices"
    CALIBRATION = "calibration"
    DISTILL = "distill"


SECTION_NAMES: tuple[str, ...] = tuple(s.value for s in SectionName)

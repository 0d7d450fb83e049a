"""The report's section names, in the order a report prints them: the one list that
``hpbench report --section`` offers and :mod:`hpbench.report.sections` renders (a leaf: the CLI
reads it without importing pandas or the sections)."""

from __future__ import annotations

import enum

# The matters section scores parameter importances (Optuna's fANOVA, which imports scikit-learn) from
# this many completed trials of the study; a smaller study's final table skips it (and is priced shorter:
# hpbench.cost.figures.Figures.report)
IMPORTANCE_MIN_TRIALS = 3


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

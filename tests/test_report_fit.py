"""Report tables at the terminal's width (hpbench.report.fit): the optional columns that do not fit
are left out, least wanted first, and named; what a reader ranks by stays whole. No Ray."""

from __future__ import annotations

import pandas as pd
from rich.console import Console

from hpbench.report.fit import BOX, AtWidth, left_out, natural
from hpbench.report.leaderboard import leaderboard_table


def _trials() -> pd.DataFrame:
    return pd.DataFrame({
        "trial": [0, 1, 2], "status": ["finished"] * 3, "best_val_accuracy": [0.91, 0.97, 0.95], "family": ["gru", "gru", "lstm"], "lr": [0.001, 0.00324, 0.0161],
        "model.hidden_size": [16, 32, 16], "best_epoch": [7, 11, 1], "epochs": [15, 15, 1], "stop_reason": ["completed", "completed", "pruned"],
        "predicted_flops": [4.96e9, 1.71e10, 6.61e9], "flops_spent": [4.96e9, 1.71e10, 4.4e8], "predicted_s": [2.34, 3.27, 1.04],
        "predicted_spent_s": [2.34, 3.27, 0.07],
        "train_s": [5.18, 4.87, 0.168]})


def _shown(width: int) -> str:
    con = Console(width=width, record=True, color_system=None)
    con.print(AtWidth(lambda w: leaderboard_table(_trials(), metric="val_accuracy", mode="max", params=["family", "lr", "model.hidden_size"],
                                                  width=w)))
    return con.export_text()


def test_left_out_drops_the_least_wanted_until_the_rest_fit():
    needs = {"a": 10, "b": 10, "c": 10}
    assert left_out(needs, width=None, order=["c", "b"]) == []
    assert left_out(needs, width=1 + 3 * (10 + BOX), order=["c", "b"]) == []
    assert left_out(needs, width=1 + 2 * (10 + BOX), order=["c", "b"]) == ["c"]
    assert left_out(needs, width=10, order=["c", "b"]) == ["c", "b"]  # never more than the optional ones
    assert natural("header", ["x", "a longer cell"]) == len("a longer cell") and natural("header", []) == len("header")


def test_the_leaderboard_at_a_wide_terminal_shows_every_column():
    text = _shown(200)
    assert all(h in text for h in ("pred FLOPs", "FLOPs", "pred s", "val_accuracy", "model.hidden_size=32")) and "left out" not in text


def test_the_leaderboard_at_a_narrow_terminal_keeps_values_whole_and_names_what_it_left_out():
    text = _shown(90)
    flat = " ".join(text.split())
    assert "model.hidden_size=32" in text and "val_accuracy" in text and "0.97" in text  # not folded, not cut
    assert "left out at 90 columns: FLOPs, pred FLOPs" in flat
    assert max(len(line) for line in text.splitlines()) <= 90  # no line wider than the terminal
    assert "pred s" in text and "4.87" in text  # the seconds stay while they fit

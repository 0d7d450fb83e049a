"""Study files the tests share: the repository's ``studies/`` folder and a tiny study text."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STUDIES = ROOT / "studies"

TINY_STUDY = """
[study]
name = "tiny"
seed = 0
metric = "val_accuracy"
mode = "max"
trials = 4
searcher = "random"
scheduler = "none"
max_concurrent = 2

[data]
dataset = "digits"
preprocess = ["standardize"]

[model]
family = "mlp"
depth = 1
width = 32

[train]
max_epochs = 3
batch_size = 64

[space]
optimizer = { choice = ["adam", "sgd"] }
lr = { loguniform = [1e-3, 1e-1] }
"""

"""Held-out studies for ``benchmarks/eta.py --unseen``: written after the ETA's model and priors were set, never used to tune them."""

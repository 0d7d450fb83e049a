"""Dispatch: Ray Tune runs the trials (searchers, schedulers, the trainable, progress)."""

"""Test-only user code (models, datasets) that hpbench loads as ``tests.helpers.x:build``."""

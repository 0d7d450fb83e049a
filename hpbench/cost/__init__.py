"""Cost model: FLOPs of a training step (``count``), closed-form formulas (``formulas``), the
measured device model (``device``), time prediction (``predict``) and the per-trial columns the
dispatcher records (``annotate``). Importing this package imports neither torch nor Ray."""

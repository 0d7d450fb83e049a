"""Cost model: FLOPs of a training step (``count``: the op records in ``ops``, the recorder in
``recorder``), closed-form formulas (``formulas``), the device model (``device``), its
micro-benchmarks (``microbench``) and calibration with the per-machine cache (``calibrate``,
fitted on the timed epochs of ``suite``), time prediction (``predict``) and the per-trial columns
the dispatcher records (``annotate``). Importing this package imports neither torch nor Ray."""

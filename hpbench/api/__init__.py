"""hpbench's Python API: what the package root exports, and what every ``hpbench`` command calls.

The layer above the data flow (study → space → dispatch → train → results → report): each
module here is one thing a user does, from a notebook, a script or the command line.

* :mod:`~hpbench.api.study`: :class:`Study` read from a TOML file or a dict (validated once);
* :mod:`~hpbench.api.search`: :func:`search` runs it through Ray Tune and returns :class:`Results`;
* :mod:`~hpbench.api.results`: :class:`Results` (tables, the best trial, reports, saved models);
* :mod:`~hpbench.api.retrain`: the winner as a fixed study, and :func:`train_study` of one configuration;
  :mod:`~hpbench.api.train_folder` owns the folder it writes (the study trained, which folders it may replace);
* :mod:`~hpbench.api.estimate`: :func:`estimate`, the cost table before anything runs.

Nothing here is imported by ``import hpbench``: the root package loads these modules on first use,
and they import Ray and torch only inside the calls that need them.
"""

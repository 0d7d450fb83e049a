"""Pre-flight: between the study's validation and the dispatch, the study's data and networks are
tried, so that bad data and broken user code stop the command before any trial starts.

- :mod:`~hpbench.preflight.run`: the step itself (``preflight``, ``check_study``);
- :mod:`~hpbench.preflight.load`: loading the data for the checks, one function per kind;
- :mod:`~hpbench.preflight.table`, :mod:`~hpbench.preflight.data`: the data checks (a data file's table, then any data as arrays), one function per rule;
- :mod:`~hpbench.preflight.shapes`: which configurations to try;
- :mod:`~hpbench.preflight.models`: the network and optimizer checks (torch, in the helper process);
- :mod:`~hpbench.preflight.problems`: what they report (``Problem``, ``PreflightFailed``).
"""

from hpbench.preflight.problems import PreflightFailed, Problem

__all__ = ["PreflightFailed", "Problem"]

"""A saved trial named by another study: ``"RESULTS_DIR:TRIAL"`` -> its weights file.

``[model] init_from`` (transfer learning) and ``[distill] teacher`` name a finished trial of
another study. This is the study package's one read of the results package: the path rule of
its weights files (:func:`hpbench.results.weights.resolve_reference`).
"""

from __future__ import annotations

from hpbench.study.locate import locate
from hpbench.study.reader import Reader


def reference(reader: Reader, key: str, ref: str) -> str:
    """The absolute path of the weights a reference names, or a StudyError naming ``key``."""
    from hpbench.results.files import STUDY_JSON
    from hpbench.results.weights import ReferenceError_, resolve_reference  # only when a study names a saved trial

    found = ref
    if isinstance(ref, str) and ":" in ref:  # its results directory: beside the study or in the working directory, never both
        where, _, trial = ref.rpartition(":")
        directory = locate(reader, key, where, found=lambda d: (d / STUDY_JSON).is_file(), what="results directories")
        found = f"{directory}:{trial}" if directory is not None else ref
    try:
        return str(resolve_reference(found, base_dir=reader.base_dir))
    except ReferenceError_ as err:
        raise reader.fail(key, str(err), ref) from None

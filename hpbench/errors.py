"""User-facing errors.

Every problem with user input is raised as :class:`StudyError` at the edge (study parsing,
CLI options) and turned into exit code 2 by the CLI. Each :class:`Problem` names where the
value came from, the key, the rule it breaks and the bad value, e.g.::

    studies/quickstart.toml: space.lr.loguniform: needs 0 < low < high, but got low=0.0

A study file with several mistakes raises one :class:`StudyError` carrying all of them
(:attr:`StudyError.problems`, in file order); its message is one line per problem.
"""

from __future__ import annotations

import datetime
import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One broken rule: the file (or option) it came from, the key, the rule in words, the bad
    value (``None``: none to show) and a hint (e.g. a did-you-mean)."""

    source: str
    key: str
    rule: str
    value: object = None
    hint: str = ""

    def __str__(self) -> str:
        got = "" if self.value is None else f", but got {_show(self.value)}"
        tail = f" ({self.hint})" if self.hint else ""
        return f"{self.source}: {self.key}: {self.rule}{got}{tail}"


@dataclass(frozen=True, kw_only=True)
class DataFileProblem(Problem):
    """A data file's problem found while the study is read (its header: a column named twice, a
    binary file under a .csv name): ``source`` is the data file, as the pre-flight's data problems
    name it, and the command says that nothing was started or written, as it does for those."""


class StudyError(ValueError):
    """Invalid user input: a study file, an override or a CLI option.

    ``StudyError(source=..., key=..., rule=..., value=..., hint=...)`` is one problem;
    :meth:`of` gathers several. :attr:`problems` lists them all; ``source``, ``key``, ``rule``,
    ``value`` and ``hint`` are the first one's."""

    problems: tuple[Problem, ...]

    def __init__(self, *, source: str, key: str, rule: str, value: object = None, hint: str = "") -> None:
        self._set((Problem(source=source, key=key, rule=rule, value=value, hint=hint),))

    @classmethod
    def of(cls, problems: Sequence[Problem]) -> StudyError:
        """One error carrying every problem of ``problems`` (at least one)."""
        if not problems:
            raise ValueError("StudyError.of needs at least one problem")
        err = cls.__new__(cls)
        err._set(tuple(problems))
        return err

    def _set(self, problems: tuple[Problem, ...]) -> None:
        self.problems = problems
        first = problems[0]
        self.source, self.key, self.rule, self.value, self.hint = first.source, first.key, first.rule, first.value, first.hint
        ValueError.__init__(self, "\n".join(str(p) for p in problems))

    def __reduce__(self) -> tuple[object, ...]:  # picklable (e.g. across a helper process)
        return (StudyError.of, (self.problems,))


def _show(value: object) -> str:
    if isinstance(value, str) and value.startswith("\x00"):  # pre-formatted, e.g. "low=0.0"
        return value[1:]
    if isinstance(value, datetime.date | datetime.time):  # a TOML date or time, as the file wrote it (not datetime.date(1979, 5, 27))
        return value.isoformat()
    return repr(value)


def shown(text: str) -> str:
    """Mark ``text`` as already formatted so that StudyError prints it without quotes."""
    return "\x00" + text


# Names users write for an option under another name: the hint names the option when it is offered.
SYNONYMS = {"gpu": "cuda", "accuracy": "val_accuracy", "acc": "val_accuracy", "val_acc": "val_accuracy", "loss": "val_loss",
            "tpe_cost": "tpe-cost", "hb": "hyperband", "bohb": "hyperband", "sgd_momentum": "momentum",
            # Optuna's and Ray Tune's names of the search space's distributions
            "categorical": "choice", "float": "uniform", "int": "randint", "grid_search": "grid"}


def did_you_mean(name: str, options: Iterable[str]) -> str:
    """A 'did you mean' hint for an unknown name (the option it names in another case, a known
    synonym's, else the closest), or the options when none is close; an empty string without options."""
    options = list(options)
    folded = {o.lower(): o for o in options}
    key = name.strip().lower()
    if key in folded:  # 'TPE', 'Adam', ' asha'
        return f"did you mean {folded[key]!r}?"
    if SYNONYMS.get(key) in options:
        return f"did you mean {SYNONYMS[key]!r}?"
    close = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.6)
    if close:
        return f"did you mean {folded[close[0]]!r}?"
    return "expected one of: " + ", ".join(sorted(options)) if options else ""

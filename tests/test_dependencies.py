"""Every third-party package hpbench imports is declared in pyproject.toml (a dependency, or an
extra for the optional parts), with a lower bound the code's use needs."""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# imported only by an optional feature: declared in that extra
OPTIONAL = {"matplotlib": "plots", "mlflow": "tracking", "tensorboardX": "tracking", "tensorboard": "tracking"}


def _declared() -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def parse(reqs: list[str]) -> dict[str, str]:
        out = {}
        for r in reqs:
            m = re.match(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)", r)
            assert m, r
            out[m.group(1).lower().replace("_", "-")] = m.group(3)
        return out

    return parse(project["dependencies"]), {k: parse(v) for k, v in project["optional-dependencies"].items()}


def _imported() -> set[str]:
    names = set()
    for path in (ROOT / "hpbench").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("hpbench", "__future__")}


def test_every_imported_package_is_declared():
    deps, extras = _declared()
    dists = md.packages_distributions()
    for name in sorted(_imported()):
        dist = dists[name][0].lower().replace("_", "-")
        if name in OPTIONAL:
            assert dist in extras[OPTIONAL[name]], f"{name} ({dist}) is missing from the [{OPTIONAL[name]}] extra"
        else:
            assert dist in deps, f"hpbench imports {name}, but {dist} is not a dependency in pyproject.toml"


def test_lower_bounds_cover_the_apis_used():
    deps, extras = _declared()
    assert deps["ray"] == ">=2.41,<3"  # ray.tune.report/get_checkpoint/Checkpoint/RunConfig (absent from 2.40)
    assert extras["plots"]["matplotlib"] == ">=3.9"  # boxplot(tick_labels=...)
    assert "psycopg2-binary" in extras["postgres"]  # --storage postgresql://...
    import torch

    assert "weights_only" in torch.load.__doc__  # weights files are read with weights_only=True (torch >= 2.4 declared)

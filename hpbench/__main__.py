"""``python -m hpbench``: the ``hpbench`` command (named so, for its help and shell completion)."""

from hpbench.cli import app

app(prog_name="hpbench")

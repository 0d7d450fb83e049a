"""``python -m hpbench``: the ``hpbench`` command (named so, for its help and shell completion)."""

from hpbench.cli import app, leave

try:
    app(prog_name="hpbench")
except SystemExit as done:
    leave(done.code)  # as the installed command
    raise

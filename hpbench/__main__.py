"""``python -m hpbench``: the ``hpbench`` command (named so, for its help and shell completion)."""

from hpbench.cli import _search, app, leave_done, leave_now

try:
    app(prog_name="hpbench")
except SystemExit as done:
    if done.code == _search.EXIT_INTERRUPTED:
        leave_now(_search.EXIT_INTERRUPTED)  # at once, as the installed command
    leave_done(done.code)  # as the installed command
    raise

"""``python -m hpbench``: the ``hpbench`` command (named so, for its help and shell completion),
started as the installed command is (:mod:`hpbench.command`)."""

from hpbench.command import main

main(prog_name="hpbench")

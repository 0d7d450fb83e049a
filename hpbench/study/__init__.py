"""Study files: parsing, validation, and the typed configuration they become.

``parse`` reads a file (``overrides``: ``--set``) through a ``reader``: ``sections`` validates each
table (``keys``: the keys and their rules; ``names``: registry-named keys; ``reference``: saved
trials), ``paths`` says what [space] may search (parsed by :mod:`hpbench.space.parse`) and
``checks`` holds the rules across sections. ``schema`` is the result; ``resolve`` turns it and a
trial's sampled parameters into a :class:`~hpbench.config.TrialConfig`.
"""

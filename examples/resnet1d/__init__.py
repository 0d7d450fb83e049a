"""An example of a user's own model in hpbench: a small residual 1-D CNN (``model.build``) for
signals, with its own study file (``study.toml``). See this folder's README."""

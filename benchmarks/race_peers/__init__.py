"""The race's problems (data loaders shared by every contestant) and the peers' own scripts
(Optuna, Ray Tune, random search), written plainly as their documentation shows. Nothing here
is part of the hpbench package; see benchmarks/race.py."""

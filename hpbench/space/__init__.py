"""Search spaces: distributions, conditional dimensions, and how they are drawn."""

from hpbench.space.distributions import Choice, Distribution, Grid, LogUniform, RandInt, Uniform
from hpbench.space.space import Dimension, SearchSpace

__all__ = ["Choice", "Dimension", "Distribution", "Grid", "LogUniform", "RandInt", "SearchSpace", "Uniform"]

"""hpbench's version (a leaf: read by the package root and the device cache without importing either)."""

__version__ = "0.1.0"

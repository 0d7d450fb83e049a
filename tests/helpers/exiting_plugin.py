"""A plugin module that calls sys.exit() as it is imported (tests/test_plugin_exit.py)."""

import sys

sys.exit("exiting_plugin: config file missing")

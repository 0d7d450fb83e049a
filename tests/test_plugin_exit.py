"""A plugin that calls sys.exit() as it is imported is kept out, as one that raises is."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from hpbench.registry import Registry


def test_a_plugin_that_exits_as_it_is_imported_is_kept_out_and_explained(monkeypatch):
    """SystemExit escaped the registry's ``except Exception``: every command that read the plugins
    (``hpbench plugins``, a study naming a typo of a built-in, ...) ended with the plugin's own
    message and exit 1, naming no plugin (bug hunt s48/h5)."""
    reg: Registry = Registry(what="widget", group="hpbench.test_widgets")
    reg.register("builtin", doc="a built-in")(lambda **kw: ("builtin", kw))
    found = [EntryPoint(name="exiting", value="tests.helpers.exiting_plugin:THING", group="hpbench.test_widgets"),
             EntryPoint(name="good", value="tests.helpers.fake_plugins:GOOD", group="hpbench.test_widgets")]
    monkeypatch.setattr("hpbench.registry.entry_points", lambda *, group: found if group == "hpbench.test_widgets" else [])
    assert reg.names() == ("builtin", "good")  # the others still load
    errors = {p.name: p.error for p in reg.plugins()}
    assert errors["exiting"] == "it called sys.exit('exiting_plugin: config file missing') as it was imported"
    with pytest.raises(KeyError, match=r"unknown widget 'exiting'.*was not loaded: it called sys.exit"):
        reg.get("exiting")

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


def test_a_plugin_loggers_missing_package_is_not_sent_to_hpbenchs_extra(monkeypatch, write_study):
    """A plugin logger whose package is missing was told to ``pip install 'hpbench[tracking]'``,
    which cannot install a third party's dependency (bug hunt s48/h5); hpbench's own loggers keep
    that advice."""
    from conftest import TINY_STUDY

    from hpbench.errors import StudyError
    from hpbench.registry import Entry
    from hpbench.study.parse import load_study
    from hpbench.tracking import LOGGERS

    monkeypatch.setitem(LOGGERS._entries, "needy", Entry(name="needy", build=lambda **kw: None, meta={"needs": ("no_such_pkg_xyz",)}))
    path = write_study(TINY_STUDY.replace('max_concurrent = 2', 'max_concurrent = 2\nloggers = ["needy"]'))
    with pytest.raises(StudyError) as info:
        load_study(path)
    assert "logger 'needy' needs the no_such_pkg_xyz package (pip install no_such_pkg_xyz)" in str(info.value)

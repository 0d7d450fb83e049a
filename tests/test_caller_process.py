"""Training in the caller's process leaves it as it was (bug hunt s50/h2, finding 2): torch's
thread count, the optimizers' ``step`` and glibc's allocator; and a trial's data read from Ray's
object store (read-only arrays) becomes tensors without torch's "not writable" warning and without
a copy (finding 7). No Ray."""

from __future__ import annotations

import warnings
from io import StringIO

import numpy as np
import pytest
import torch
from rich.console import Console

import hpbench
from tests.helpers.studies import TINY_STUDY

FIXED = TINY_STUDY.split("[space]")[0].replace('name = "tiny"', 'name = "fixed"') + '\n[optimizer]\nname = "adam"\nlr = 0.02\n'


def test_train_study_restores_torchs_threads_and_optimizers_and_leaves_the_allocator(write_study, tmp_path, monkeypatch):
    """torch ran on the trial's one thread after train_study returned, the optimizers stayed patched,
    and glibc kept every freed block (mallopt) in the notebook's process."""
    from hpbench.train import allocator, eager

    eager.uninstall()  # the optimizers as torch defines them (another test of this process may have trained)
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # torch wraps a class's step in its profiling hook on first use
    step = vars(torch.optim.Adam)["step"]
    tuned: list[bool] = []
    monkeypatch.setattr(allocator, "_tuned", None)
    monkeypatch.setattr(allocator, "_mallopt", lambda: tuned.append(True) or True)
    study = hpbench.Study.from_toml(write_study(FIXED, "fixed.toml"))
    assert study.resources.cpus_per_trial == 1
    threads = torch.get_num_threads()
    torch.set_num_threads(3)  # the user's setting, not the trial's
    try:
        done = hpbench.train_study(study, out=tmp_path / "a", epochs=1, console=Console(file=StringIO()))
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(threads)
    assert done.epochs == 1
    assert not eager.installed() and vars(torch.optim.Adam)["step"] is step
    assert tuned == []


def test_the_threads_are_restored_when_the_training_raises():
    from hpbench.train.in_process import caller_process

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError), caller_process():
            torch.set_num_threads(1)
            raise RuntimeError("the user's loader broke")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_read_only_data_becomes_tensors_without_a_warning_or_a_copy(write_study, monkeypatch):
    """A trial's splits come from Ray's object store as read-only arrays: torch.as_tensor printed
    "The given NumPy array is not writable" from every worker of a user's own Ray runtime."""
    from hpbench.study.resolve import trial_config
    from hpbench.train import build

    cfg = trial_config(hpbench.Study.from_toml(write_study(FIXED, "fixed.toml")), {})
    real = build.prepare_config

    def read_only(*a, **k):
        s = real(*a, **k)
        for name in ("x_train", "y_train", "x_val", "y_val"):
            arr = getattr(s, name)
            arr.flags.writeable = False
        return s

    monkeypatch.setattr(build, "prepare_config", read_only)
    always = torch._C._get_warnAlways()
    torch._C._set_warnAlways(True)  # torch warns once a process: every time here, whichever test converted an array before
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            data = build.load_data(cfg, torch.device("cpu"))
    finally:
        torch._C._set_warnAlways(always)
    x = data.splits.x_train
    assert x.dtype == np.float32 and data.x_train is not None and data.x_train.data_ptr() == x.ctypes.data  # shared, not copied

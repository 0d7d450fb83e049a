"""A user's module beside the study, run with the installed ``hpbench`` command and no
PYTHONPATH: the command imports it from the current directory, as Ray's workers and the
prediction helper do (the command's own path starts at its ``bin`` folder)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

COMMAND = Path(sys.executable).parent / "hpbench"

MODULE = '''
import torch.nn as nn

def build(*, input_shape, n_outputs, params):
    return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[0], int(params.get("width", 8))), nn.ReLU(),
                         nn.Linear(int(params.get("width", 8)), n_outputs))
'''

STUDY = '''
[study]
name = "own-module"
seed = 0

[data]
dataset = "iris"

[model]
family = "own_model_s43:build"
width = 8

[train]
max_epochs = 2
'''


@pytest.mark.skipif(not COMMAND.exists(), reason="the installed hpbench command is not in this interpreter's bin folder")
def test_the_installed_command_imports_a_module_from_the_current_directory(tmp_path):
    (tmp_path / "own_model_s43.py").write_text(MODULE)
    (tmp_path / "study.toml").write_text(STUDY)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(COMMAND), "train", "study.toml", "--out", "out", "--json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    done = json.loads(proc.stdout)
    assert done["epochs"] == 2
    assert 0.0 <= done["metrics"]["val_accuracy"] <= 1.0
    assert (tmp_path / "out" / "model.pt").is_file()

"""glibc's allocator set for training (hpbench.train.allocator): set once per process, left as
glibc has it under HPBENCH_ALLOCATOR=default or where the C library is not glibc."""

from __future__ import annotations

import subprocess
import sys

import pytest

CODE = "from hpbench.train import allocator; print(allocator.tune(), allocator.tune())"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux")
@pytest.mark.parametrize(("env", "expected"), [({}, "True True"), ({"HPBENCH_ALLOCATOR": "default"}, "False False")])
def test_the_allocator_is_set_once_unless_asked_not_to(env, expected):
    import os

    base = {k: v for k, v in os.environ.items() if k != "HPBENCH_ALLOCATOR"}
    out = subprocess.run([sys.executable, "-c", CODE], env={**base, **env}, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == expected.split()


def test_the_trainer_trains_the_same_with_the_allocator_set():
    """The setting moves where memory comes from, never a number: a trial's epochs are bit-equal."""
    code = ("import json; from tests.test_models import cfg; from hpbench.train.trainer import train; "
            "c = cfg(dataset='iris', model={'depth': 1, 'width': 8}, optimizer='adam', lr=0.05, epochs=2, batch_size=16); "
            "print(json.dumps([r['train_loss'] for r in train(c).history]))")
    import os

    runs = []
    for arm in ("", "default"):
        env = {**{k: v for k, v in os.environ.items() if k != "HPBENCH_ALLOCATOR"}, **({"HPBENCH_ALLOCATOR": arm} if arm else {})}
        runs.append(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, check=True).stdout)
    assert runs[0] == runs[1]

"""hpbench.train.eager: the optimizers step, zero, save and load without importing TorchDynamo,
with the same arithmetic as torch's own wrappers. Each check runs in a fresh Python: in pytest's
process another test may have imported TorchDynamo already (then torch's own path runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent
ROOT = TESTS.parent


def _python(code: str) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


TRIALS = """
import copy, json, sys
import torch
from hpbench.study.parse import parse_study
from hpbench.study.resolve import trial_config
from hpbench.train.trainer import train
from hpbench.train.fused import train_fused
from test_models import cfg
from test_gan_study import study as gan_study
from test_rl_study import study as rl_study
from hpbench.config import ScheduleConfig
import dataclasses

torch.set_num_threads(1)
seen = {}
from hpbench.dispatch.early_helper import warm_up_trainer
warm_up_trainer()  # the early-trial helper's, before its first trial
seen["warm_up"] = "torch._dynamo" in sys.modules
c = cfg(dataset="digits", model={"depth": 1, "width": 16}, optimizer="adamw", epochs=2, batch_size=128)
c = dataclasses.replace(c, lr_schedule=ScheduleConfig(name="step", params={"step_size": 1}))
states = []
train(c, on_state=lambda state: states.append(copy.deepcopy(state)))  # the dispatcher pickles it at once
seen["supervised"] = "torch._dynamo" in sys.modules
train_fused([dataclasses.replace(c, seed=s) for s in (1, 2)])
seen["fused"] = "torch._dynamo" in sys.modules
train(trial_config(parse_study(gan_study(), source="gan.toml"), {}))
seen["gan"] = "torch._dynamo" in sys.modules
train(trial_config(parse_study(rl_study(), source="rl.toml"), {}))
seen["rl"] = "torch._dynamo" in sys.modules
seen["resumed"] = len(train(c, start_state=states[0]).history)
seen["after"] = "torch._dynamo" in sys.modules
print(json.dumps(seen))
"""


def test_trials_of_every_task_import_no_torchdynamo():
    seen = _python(TRIALS)
    assert seen == {"warm_up": False, "supervised": False, "fused": False, "gan": False, "rl": False, "resumed": 2, "after": False}


SAME = """
import json, sys, warnings
import torch
from hpbench.train import eager
from hpbench.train.optimizers import OPTIMIZERS, build_optimizer

warnings.simplefilter("error")  # e.g. the LR scheduler's "lr_scheduler.step() before optimizer.step()"


def run(name):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    opt = build_optimizer(name, net.parameters(), lr=0.05, params={})
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    x, y = torch.randn(32, 5), torch.randint(0, 3, (32,))
    for _ in range(5):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
        sched.step()
    saved = opt.state_dict()
    opt.load_state_dict(saved)
    closure_loss = opt.step(lambda: torch.nn.functional.cross_entropy(net(x), y))
    grads_cleared = all(p.grad is None for p in net.parameters()) if opt.zero_grad() is None else False
    return [p.detach().tolist() for p in net.parameters()], float(closure_loss.detach()), grads_cleared, torch.is_grad_enabled()


eager.install()
names = sorted(OPTIMIZERS.names())
before = {n: run(n) for n in names}
dynamo_before = "torch._dynamo" in sys.modules
import torch._dynamo  # noqa: E402  torch's own wrappers from here on
after = {n: run(n) for n in names}
print(json.dumps({"names": names, "dynamo_before": dynamo_before, "before": before, "after": after}))
"""


def test_every_optimizer_steps_as_torchs_own_wrappers_do():
    got = _python(SAME)
    assert got["dynamo_before"] is False and len(got["names"]) == 8
    import numpy as np

    for name in got["names"]:
        (p0, loss0, cleared0, grad0), (p1, loss1, cleared1, grad1) = got["before"][name], got["after"][name]
        for a, b in zip(p0, p1, strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7, err_msg=name)
        assert np.isclose(loss0, loss1, rtol=1e-5) and cleared0 and cleared1 and grad0 and grad1, name

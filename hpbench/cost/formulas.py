"""Closed-form FLOP formulas: small pure functions, one multiply-add = 2 FLOPs.

They are the reference the counter is tested against and hpbench's own counts for what
``torch.utils.flop_counter.FlopCounterMode`` leaves out (element-wise ops, norms, softmax).
"""

from __future__ import annotations


def linear_forward(*, n_in: int, n_out: int, n_samples: int = 1) -> int:
    """y = x W^T: 2·in·out per sample (one multiply-add per weight)."""
    return 2 * n_in * n_out * n_samples


def linear_backward(*, n_in: int, n_out: int, n_samples: int = 1, input_grad: bool = True) -> int:
    """dW = dy^T x and dx = dy W: each costs as much as the forward, so 2x forward
    (Kaplan et al. 2020, §2.1: backward ≈ 2x forward); 1x when no input gradient is needed."""
    return (2 if input_grad else 1) * linear_forward(n_in=n_in, n_out=n_out, n_samples=n_samples)


def conv2d_forward(*, c_in: int, c_out: int, kernel: tuple[int, int], out_hw: tuple[int, int], n_samples: int = 1, groups: int = 1) -> int:
    """2·(c_in/groups)·kh·kw·c_out per output pixel (the multiply-adds of one kernel window)."""
    return 2 * (c_in // groups) * kernel[0] * kernel[1] * c_out * out_hw[0] * out_hw[1] * n_samples


def conv1d_forward(*, c_in: int, c_out: int, kernel: int, out_len: int, n_samples: int = 1, groups: int = 1) -> int:
    """2·(c_in/groups)·k·c_out per output position: a 1-D convolution is a 2-D one of height 1."""
    return conv2d_forward(c_in=c_in, c_out=c_out, kernel=(1, kernel), out_hw=(1, out_len), n_samples=n_samples, groups=groups)


def conv_backward(*, forward: int, input_grad: bool = True) -> int:
    """The input gradient (a transposed convolution) and the weight gradient each cost the
    forward's multiply-adds: 2x forward, 1x for a first layer (no input gradient)."""
    return (2 if input_grad else 1) * forward


def recurrent_forward(*, gates: int, n_in: int, hidden: int, seq_len: int, n_samples: int = 1) -> int:
    """Gate matmuls per timestep: gates · (2·in·h + 2·h·h) (W_ih x_t + W_hh h_{t-1}).
    gates = 1 for RNN, 3 for GRU, 4 for LSTM (Hochreiter & Schmidhuber 1997; Cho et al. 2014).
    The element-wise gate arithmetic is O(h) per step and left out here."""
    return gates * (2 * n_in * hidden + 2 * hidden * hidden) * seq_len * n_samples




def attention_scores(*, seq_len: int, d_model: int, n_samples: int = 1) -> int:
    """QK^T and (softmax)·V: 2 · 2·T²·d per sequence (Kaplan et al. 2020, Table 1: 2·n_layer·n_ctx·d_attn per token, fwd)."""
    return 2 * 2 * seq_len * seq_len * d_model * n_samples


def transformer_train_per_token(*, n_params: int) -> int:
    """Training FLOPs per token ≈ 6·N (forward 2N, backward 4N) — Kaplan et al. 2020, eq. 2.1,
    for non-embedding parameters N, ignoring the attention-score term (small when d_model >> n_ctx/12)."""
    return 6 * n_params


# FLOPs per element of the ops FlopCounterMode leaves at 0 (hpbench's own rounding):
ELEMENTWISE_PER_ELEMENT = 1  # add, mul, relu, ... : one op per output element
NORM_FORWARD_PER_ELEMENT = 5  # mean, variance, subtract, divide, affine (scale + shift fused)
NORM_BACKWARD_PER_ELEMENT = 8  # the three reductions and the element-wise combine of the norm gradient
SOFTMAX_PER_ELEMENT = 5  # max, subtract, exp, sum, divide
ADAM_PER_PARAMETER = 12  # two moment updates (2x2), bias corrections, sqrt, add eps, divide, update


def naive_seconds(*, flops: float, flops_per_s: float) -> float:
    """The textbook estimate: FLOPs / device FLOP/s (1 TFLOP at 10 TFLOP/s = 0.1 s)."""
    if flops_per_s <= 0:
        raise ValueError(f"flops_per_s must be > 0, but got {flops_per_s}")
    return flops / flops_per_s

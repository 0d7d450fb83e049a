"""The recurrence of a stacked RNN/GRU/LSTM layer as one autograd node with a hand-written backward.

Written with autograd op by op (session 5), a fused LSTM step left a graph node for every slice,
gate and product of every time step, and its backward re-materialised each slice's gradient as a
zero tensor plus a copy (torch.profiler, 8 LSTMs h32 on digits, one epoch: 22,393 aten calls, of
which ``fill_``, ``add_`` and ``copy_`` took 54% of the CPU time). Here the forward runs without
autograd, keeping each step's gate activations, and the backward walks the steps back (BPTT) with
a few batched ops per step on that step's slices (precomputing the derivatives for every step at
once measured slower: passes over tensors that leave the cache); ``W_hh``'s gradient is one ``bmm``
over every step's rows after the loop. ``tanh`` is taken as ``2σ(2x) - 1`` (PyTorch's CPU tanh measured 46-48 us on 16K
floats here against 22 us for the four ops, AVX-512, one thread; within 2e-7 of tanh).
The LSTM (session 7): 9 ops a forward step, none allocating (was 12), 12 a backward step, no
``stack`` (was 11 with one); one thread, 8 members h32 b64 T8, forward + backward min of 60:
2.94 -> 2.48 ms, the forward 1.07 -> 0.86 ms; its matmuls alone take 1.2 ms of that
(tests/test_fused_layers.py counts the ops per step).

Inputs: ``gi`` ``[M, T, B, G·H]``, every step's input gates (``x W_ih + b``, computed outside as one
batched matmul, so its gradient reaches ``W_ih`` and ``x`` through autograd), and the transposed
recurrent weights ``[M, H, G·H]``. Output: every step's hidden state ``[M, T, B, H]`` in time
order (a reverse layer walks ``T-1 … 0``), or only the last one ``[M, B, H]`` (a network's last
recurrent layer). The gate equations are PyTorch's (``nn.RNN``, ``nn.GRU``,
``nn.LSTM``); tests/test_fused_layers.py checks outputs and gradients against the modules (rel
1e-5) and this backward against finite differences (float64).
"""

from __future__ import annotations

from typing import Any

import torch


def _tanh(x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """tanh(x) = 2σ(2x) - 1, into ``out`` (may be ``x``)."""
    out = torch.sigmoid(x * 2, out=out) if out is not None else torch.sigmoid(x * 2)
    return out.mul_(2).sub_(1)


class Recurrence(torch.autograd.Function):
    """``Recurrence.apply(mode, gi, w_hh, b_hn, reverse, keep_outputs)``: ``b_hn`` is GRU's hidden bias of
    its n gate ``[M, H]`` (it sits inside ``r ⊙ (W_hn h + b_hn)``; every other hidden bias only adds
    and is folded into ``gi``), ``None`` for the others."""

    @staticmethod
    def forward(ctx: Any, mode: str, gi: torch.Tensor, w: torch.Tensor, b_hn: torch.Tensor | None, reverse: bool,
                keep_outputs: bool) -> torch.Tensor:
        m, t_len, b, _ = gi.shape
        hid = w.shape[1]
        steps = range(t_len - 1, -1, -1) if reverse else range(t_len)
        hs = gi.new_empty(t_len + 1, m, b, hid)  # time-major, each step's slice contiguous; hs[T]: the zero state
        h = hs[t_len].zero_()
        saved: list[torch.Tensor] = []
        if mode == "LSTM":
            saved = _lstm_forward(gi, w, hs, steps)
            h = hs[steps[-1]]
        elif mode == "GRU":  # r, z = σ; n = tanh(gi_n + r ⊙ (W_hn h + b_hn)); h' = (1 - z) ⊙ n + z ⊙ h
            assert b_hn is not None  # internal: the caller passes GRU's n-gate bias
            acts, ghn = gi.new_empty(t_len, m, b, 3, hid), gi.new_empty(t_len, m, b, hid)
            bias = b_hn.unsqueeze(1)
            for t in steps:
                g = torch.bmm(h, w).view(m, b, 3, hid)
                a, gt = acts[t], gi[:, t].view(m, b, 3, hid)
                torch.sigmoid(torch.add(gt[:, :, :2], g[:, :, :2]), out=a[:, :, :2])
                torch.add(g[:, :, 2], bias, out=ghn[t])
                _tanh(torch.addcmul(gt[:, :, 2], a[:, :, 0], ghn[t]), out=a[:, :, 2])
                h = torch.lerp(a[:, :, 2], h, a[:, :, 1], out=hs[t])
            saved = [acts, ghn]
        else:  # h' = tanh(gi + W_hh h) or relu(...)
            for t in steps:
                h = torch.baddbmm(gi[:, t], h, w, out=hs[t])
                h = _tanh(h, out=h) if mode == "RNN_TANH" else h.relu_()
        ctx.mode, ctx.reverse, ctx.keep = mode, reverse, keep_outputs
        ctx.save_for_backward(w, hs, *saved)
        return hs[:t_len].permute(1, 0, 2, 3) if keep_outputs else h.clone()

    @staticmethod
    def backward(ctx: Any, d_out: torch.Tensor) -> tuple[Any, ...]:
        w, hs, *saved = ctx.saved_tensors
        mode, reverse = ctx.mode, ctx.reverse
        t_len, (_, m, b, hid) = hs.shape[0] - 1, hs.shape
        steps = range(t_len) if reverse else range(t_len - 1, -1, -1)  # the forward's steps, backwards
        prev = (lambda t: t + 1 if t + 1 < t_len else t_len) if reverse else (lambda t: t - 1 if t > 0 else t_len)  # index of the state step t read
        d_outs = d_out.permute(1, 0, 2, 3) if ctx.keep else None  # time-major
        wt = w.transpose(1, 2)
        gates = w.shape[2] // hid
        d_gi = w.new_empty(m, t_len, b, gates * hid)
        dh = d_out if d_outs is None else torch.zeros_like(hs[0])
        db_hn = None
        one = w.new_ones(())
        if mode == "LSTM":
            _lstm_backward(d_gi, dh, d_outs, wt, saved, steps, reverse)
        elif mode == "GRU":
            acts, ghn = saved
            d_gh = torch.empty_like(d_gi)  # the gradient of h W_hh (+ b_hn): GRU's n gate differs from the input's
            for t in steps:
                if d_outs is not None:
                    dh = dh + d_outs[t]
                r, z, n = acts[t].unbind(2)
                d, e = d_gi[:, t].view(m, b, 3, hid), d_gh[:, t].view(m, b, 3, hid)
                dn = torch.mul(dh - dh * z, torch.addcmul(one, n, n, value=-1), out=d[:, :, 2])  # dh ⊙ (1 - z) ⊙ tanh'
                torch.mul(dh * (hs[prev(t)] - n), torch.addcmul(z, z, z, value=-1), out=d[:, :, 1])
                torch.mul(dn * ghn[t], torch.addcmul(r, r, r, value=-1), out=d[:, :, 0])
                e[:, :, :2] = d[:, :, :2]
                torch.mul(dn, r, out=e[:, :, 2])
                dh = torch.baddbmm(dh * z, e.view(m, b, 3 * hid), wt)
            db_hn = d_gh[..., 2 * hid :].sum((1, 2))
        else:
            for t in steps:
                if d_outs is not None:
                    dh = dh + d_outs[t]
                h = hs[t]
                d = d_gi[:, t]
                torch.mul(dh, torch.addcmul(one, h, h, value=-1) if mode == "RNN_TANH" else (h > 0).to(h.dtype), out=d)
                dh = torch.bmm(d, wt)
        # W_hh's gradient: every step's (state read) x (its gates' gradient) in one bmm over the T·B rows
        h_read = hs[1:] if reverse else torch.cat([hs[t_len:], hs[: t_len - 1]])  # [T, M, B, H]: the state step t read
        d_gates = d_gh if mode == "GRU" else d_gi
        dw = torch.bmm(h_read.transpose(0, 1).reshape(m, t_len * b, hid).transpose(1, 2), d_gates.view(m, t_len * b, gates * hid))
        return None, d_gi, dw, db_hn, None, None


def _lstm_forward(gi: torch.Tensor, w: torch.Tensor, hs: torch.Tensor, steps: range) -> list[torch.Tensor]:
    """i, f, g, o = σ, σ, tanh, σ; c' = f ⊙ c + i ⊙ g; h' = o ⊙ tanh(c'), into ``hs``; returns what
    the backward keeps: every step's gate activations ``[T, M, B, 4, H]``, cell states (``cs[T]``:
    zero) and tanh of them. Nine ops a step, none allocating: the g columns of the input gates and
    of ``W_hh`` are doubled once (σ(2x) then 2s - 1 is tanh), every step's input gates copied
    time-major into the activations' buffer, where the step's recurrent matmul adds in place."""
    m, t_len, b, gh = gi.shape
    hid = gh // 4
    scale = gi.new_ones(4, hid)
    scale[2] = 2
    acts = torch.mul(gi.transpose(0, 1).unflatten(-1, (4, hid)), scale, out=gi.new_empty(t_len, m, b, 4, hid))  # g doubled
    w2 = w * scale.view(1, 1, gh)
    cs, tcs = gi.new_empty(t_len + 1, m, b, hid), gi.new_empty(t_len, m, b, hid)
    c, h = cs[t_len].zero_(), hs[t_len]
    minus_one = gi.new_full((), -1.0)
    for t in steps:
        a = acts[t]
        a.view(m, b, gh).baddbmm_(h, w2).sigmoid_()
        i, f, g, o = a.unbind(2)
        torch.add(minus_one, g, alpha=2, out=g)  # g = 2σ(2 pre_g) - 1
        c = torch.mul(f, c, out=cs[t]).addcmul_(i, g)
        tc = torch.mul(c, 2, out=tcs[t]).sigmoid_()
        torch.add(minus_one, tc, alpha=2, out=tc)
        h = torch.mul(o, tc, out=hs[t])
    return [acts, cs, tcs]


def _lstm_backward(d_gi: torch.Tensor, dh: torch.Tensor, d_outs: torch.Tensor | None, wt: torch.Tensor,
                   saved: list[torch.Tensor], steps: range, reverse: bool) -> None:
    """BPTT of :func:`_lstm_forward` into ``d_gi`` ``[M, T, B, 4H]``, step by step on that step's
    slices (taking the derivative factors for every step at once measured slower: strided passes
    over tensors that leave the cache): ``dc += dh ⊙ o ⊙ (1 - tanh²c)``; the gates' gradients
    ``[dc ⊙ g, dc ⊙ c_prev, dc ⊙ i, dh ⊙ tanh c] ⊙ [σ'(i), σ'(f), tanh'(g), σ'(o)]`` written into
    ``d_gi``; ``dh = d W_hhᵀ``; ``dc ⊙= f``."""
    acts, cs, tcs = saved
    t_len, m, b, _, hid = acts.shape
    one = acts.new_ones(())
    dc, k_c, deriv = torch.zeros_like(cs[0]), torch.empty_like(cs[0]), torch.empty_like(acts[0])
    for t in steps:
        if d_outs is not None:
            dh = dh + d_outs[t]
        a, tc = acts[t], tcs[t]
        i, f, g, o = a.unbind(2)
        dc.addcmul_(dh, torch.addcmul(one, tc, tc, value=-1, out=k_c).mul_(o))  # dc + dh ⊙ o ⊙ (1 - tanh²c)
        d = d_gi[:, t].view(m, b, 4, hid)
        di, df, dg, do = d.unbind(2)
        torch.mul(dc, g, out=di)
        torch.mul(dc, cs[(t + 1 if t + 1 < t_len else t_len) if reverse else (t - 1 if t > 0 else t_len)], out=df)
        torch.mul(dc, i, out=dg)
        torch.mul(dh, tc, out=do)
        torch.addcmul(a, a, a, value=-1, out=deriv)  # σ' = a - a²
        torch.addcmul(one, g, g, value=-1, out=deriv[:, :, 2])  # tanh' = 1 - g²
        d.mul_(deriv)
        dh = torch.bmm(d.view(m, b, 4 * hid), wt)
        dc.mul_(f)

"""The recurrence of a stacked RNN/GRU/LSTM layer as one autograd node with a hand-written backward.

Written with autograd op by op (session 5), a fused LSTM step left a graph node for every slice,
gate and product of every time step, and its backward re-materialised each slice's gradient as a
zero tensor plus a copy (torch.profiler, 8 LSTMs h32 on digits, one epoch: 22,393 aten calls, of
which ``fill_``, ``add_`` and ``copy_`` took 54% of the CPU time). Here the forward runs without
autograd, keeping each step's gate activations, and the backward walks the steps back (BPTT) with
a few batched ops per step; the gradient of ``W_hh`` is one ``bmm`` over every step after the loop.

Inputs: ``gi`` ``[M, T, B, G·H]``, every step's input gates (``x W_ih + b``, computed outside as one
batched matmul, so its gradient reaches ``W_ih`` and ``x`` through autograd), and the transposed
recurrent weights ``[M, H, G·H]``. Output: every step's hidden state ``[M, T, B, H]`` in time
order (a reverse layer walks ``T-1 … 0``). The gate equations are PyTorch's (``nn.RNN``, ``nn.GRU``,
``nn.LSTM``); tests/test_fused_layers.py checks outputs and gradients against the modules (rel
1e-5) and this backward against finite differences (float64).
"""

from __future__ import annotations

from typing import Any

import torch


class Recurrence(torch.autograd.Function):
    """``Recurrence.apply(mode, gi, w_hh, b_hn, reverse)``: ``b_hn`` is GRU's hidden bias of its n gate
    ``[M, H]`` (it sits inside ``r ⊙ (W_hn h + b_hn)``; every other hidden bias only adds and is folded
    into ``gi``), ``None`` for the others."""

    @staticmethod
    def forward(ctx: Any, mode: str, gi: torch.Tensor, w: torch.Tensor, b_hn: torch.Tensor | None, reverse: bool) -> torch.Tensor:
        m, t_len, b, _ = gi.shape
        hid = w.shape[1]
        steps = range(t_len - 1, -1, -1) if reverse else range(t_len)
        hs = gi.new_empty(t_len, m, b, hid)  # time-major: each step's slice contiguous
        h = gi.new_zeros(m, b, hid)
        saved: list[torch.Tensor] = []
        if mode == "LSTM":  # i, f, g, o = σ, σ, tanh, σ; c' = f ⊙ c + i ⊙ g; h' = o ⊙ tanh(c')
            acts, cs, tcs = gi.new_empty(t_len, m, b, 4, hid), gi.new_empty(t_len, m, b, hid), gi.new_empty(t_len, m, b, hid)
            c = gi.new_zeros(m, b, hid)
            for t in steps:
                pre = torch.baddbmm(gi[:, t], h, w).view(m, b, 4, hid)
                a = acts[t]
                torch.sigmoid(pre, out=a)
                torch.tanh(pre[:, :, 2], out=a[:, :, 2])
                c = torch.addcmul(a[:, :, 1] * c, a[:, :, 0], a[:, :, 2], out=cs[t])
                torch.tanh(c, out=tcs[t])
                h = torch.mul(a[:, :, 3], tcs[t], out=hs[t])
            saved = [acts, cs, tcs]
        elif mode == "GRU":  # r, z = σ; n = tanh(gi_n + r ⊙ (W_hn h + b_hn)); h' = (1 - z) ⊙ n + z ⊙ h
            assert b_hn is not None  # internal: the caller passes GRU's n-gate bias
            acts, ghn = gi.new_empty(t_len, m, b, 3, hid), gi.new_empty(t_len, m, b, hid)
            bias = b_hn.unsqueeze(1)
            for t in steps:
                g = torch.bmm(h, w).view(m, b, 3, hid)
                a, gt = acts[t], gi[:, t].view(m, b, 3, hid)
                torch.sigmoid(torch.add(gt[:, :, :2], g[:, :, :2]), out=a[:, :, :2])
                torch.add(g[:, :, 2], bias, out=ghn[t])
                torch.tanh(torch.addcmul(gt[:, :, 2], a[:, :, 0], ghn[t]), out=a[:, :, 2])
                h = torch.lerp(a[:, :, 2], h, a[:, :, 1], out=hs[t])
            saved = [acts, ghn]
        else:  # h' = tanh(gi + W_hh h) or relu(...)
            for t in steps:
                h = torch.baddbmm(gi[:, t], h, w, out=hs[t])
                h = h.tanh_() if mode == "RNN_TANH" else h.relu_()
        ctx.mode, ctx.reverse, ctx.has_bias = mode, reverse, b_hn is not None
        ctx.save_for_backward(w, hs, *saved)
        return hs.permute(1, 0, 2, 3)

    @staticmethod
    def backward(ctx: Any, d_out: torch.Tensor) -> tuple[Any, ...]:
        w, hs, *saved = ctx.saved_tensors
        mode, reverse = ctx.mode, ctx.reverse
        t_len, m, b, hid = hs.shape
        steps = range(t_len) if reverse else range(t_len - 1, -1, -1)  # the forward's steps, backwards
        d_out = d_out.permute(1, 0, 2, 3)  # time-major
        zero = hs.new_zeros(1, m, b, hid)
        h_prev = torch.cat([hs[1:], zero]) if reverse else torch.cat([zero, hs[:-1]])  # the state each step read
        wt = w.transpose(1, 2)
        dh = hs.new_zeros(m, b, hid)
        db_hn = None
        if mode == "LSTM":
            acts, cs, tcs = saved
            i, f, g, o = acts.unbind(3)
            c_prev = torch.cat([cs[1:], zero]) if reverse else torch.cat([zero, cs[:-1]])
            q = o * (1 - tcs * tcs)  # d c' / d h' (through o ⊙ tanh(c'))
            z3 = torch.stack([g, c_prev, i], dim=3)  # dc times these: the pre-activation gradients of i, f, g
            deriv = acts * (1 - acts)
            deriv[:, :, :, 2] = 1 - g * g
            dpre = torch.empty_like(acts)
            dc = hs.new_zeros(m, b, hid)
            for t in steps:
                dh = dh + d_out[t]
                dc = torch.addcmul(dc, dh, q[t])
                d = dpre[t]
                torch.mul(dc.unsqueeze(2), z3[t], out=d[:, :, :3])
                torch.mul(dh, tcs[t], out=d[:, :, 3])
                d.mul_(deriv[t])
                dh = torch.bmm(d.view(m, b, 4 * hid), wt)
                dc = dc * f[t]
            dg = dpre
        elif mode == "GRU":
            acts, ghn = saved
            r, z, n = acts.unbind(3)
            dn_of = (1 - n * n) * (1 - z)  # d n_pre / d h'
            dz_of = (h_prev - n) * z * (1 - z)  # d z_pre / d h'
            dr_of = ghn * r * (1 - r)  # d r_pre / d n_pre
            dgi = torch.empty_like(acts)
            dg = torch.empty_like(acts)
            for t in steps:
                dh = dh + d_out[t]
                d, e = dgi[t], dg[t]
                dn = torch.mul(dh, dn_of[t], out=d[:, :, 2])
                torch.mul(dh, dz_of[t], out=d[:, :, 1])
                torch.mul(dn, dr_of[t], out=d[:, :, 0])
                e[:, :, :2].copy_(d[:, :, :2])
                torch.mul(dn, r[t], out=e[:, :, 2])
                dh = torch.baddbmm(dh * z[t], e.view(m, b, 3 * hid), wt)
            db_hn = dg[:, :, :, 2].sum((0, 2)) if ctx.has_bias else None
            dpre = dgi
        else:
            deriv = 1 - hs * hs if mode == "RNN_TANH" else (hs > 0).to(hs.dtype)
            dpre = torch.empty_like(hs)
            for t in steps:
                dh = dh + d_out[t]
                d = torch.mul(dh, deriv[t], out=dpre[t])
                dh = torch.bmm(d, wt)
            dg = dpre
        gates = dg.shape[3] if dg.dim() == 5 else 1
        dg_flat = dg.reshape(t_len, m, b, gates * hid).transpose(0, 1).reshape(m, t_len * b, gates * hid)
        dw = torch.bmm(h_prev.transpose(0, 1).reshape(m, t_len * b, hid).transpose(1, 2), dg_flat)
        d_gi = dpre.reshape(t_len, m, b, gates * hid).transpose(0, 1)
        return None, d_gi, dw, db_hn, None

"""The Phased LSTM recurrence as one autograd Function with a hand-written backward pass.

Only the recurrent part runs step by step: the input projection of all T steps is one matrix
product before the call (done by the caller, differentiated by autograd), and in the backward pass
the weight gradient of the recurrent matrix is one matrix product over all steps after the loop.
Inside the loops the outputs are preallocated and written with ``out=``: a forward step is one
``addmm`` and eight elementwise calls (gate nonlinearities, cell, and the two ``lerp`` calls of the
time gate); a backward step is one ``addmm`` and about twenty elementwise calls on that step's
[B, H] slices. Keeping the elementwise work inside the loop, on slices that stay in cache, was
about 3x faster on a CPU than the same arithmetic as whole-sequence passes (bound by memory
bandwidth). Works on any device and in float32 / float64; not twice differentiable.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable


def _forward_loop(xg, k, h0, c0, w_hh):
    steps, batch, four_h = xg.shape
    hidden = four_h // 4
    w_t = w_hh.t()
    acts = torch.empty_like(xg)  # sigmoid of every pre-activation (the g quarter is overwritten by gs)
    gs = xg.new_empty(steps, batch, hidden)  # tanh of the cell-input pre-activation
    cells = xg.new_empty(steps + 1, batch, hidden)  # c_0 ... c_T
    c_tilde = xg.new_empty(steps, batch, hidden)
    tanh_c = xg.new_empty(steps, batch, hidden)
    h_tilde = xg.new_empty(steps, batch, hidden)
    out = xg.new_empty(steps, batch, hidden)
    cells[0] = c0
    h, c = h0, c0
    xs, ks, a_s, g_s = xg.unbind(0), k.unbind(0), acts.unbind(0), gs.unbind(0)
    cts, ths, hts, cs, outs = c_tilde.unbind(0), tanh_c.unbind(0), h_tilde.unbind(0), cells.unbind(0), out.unbind(0)
    for t in range(steps):
        a, g = a_s[t], g_s[t]
        torch.addmm(xs[t], h, w_t, out=a)
        torch.tanh(a[:, 2 * hidden:3 * hidden], out=g)
        a.sigmoid_()
        ct = cts[t]
        torch.mul(a[:, hidden:2 * hidden], c, out=ct)
        ct.addcmul_(a[:, :hidden], g)
        torch.tanh(ct, out=ths[t])
        c = torch.lerp(c, ct, ks[t], out=cs[t + 1])
        ht = torch.mul(a[:, 3 * hidden:], ths[t], out=hts[t])
        h = torch.lerp(h, ht, ks[t], out=outs[t])
    return out, acts, gs, cells, c_tilde, tanh_c, h_tilde


def _backward_loop(dout, dh_last, dc_last, k, h0, out, acts, gs, cells, c_tilde, tanh_c, h_tilde, w_hh,
                   need_dk):
    # Every step works on [B, H] slices that stay in cache: on a CPU this beats whole-sequence
    # elementwise passes, which are bound by memory bandwidth.
    steps, batch, four_h = acts.shape
    hidden = four_h // 4
    dgates = torch.empty_like(acts)
    dk = torch.empty_like(k) if need_dk else None
    ones = acts.new_ones(batch, hidden)
    slope = acts.new_empty(batch, four_h)  # derivative of each nonlinearity at this step
    dh = torch.add(dout[-1], dh_last)
    dc = dc_last.clone()
    ks, a_s, g_s, douts = k.unbind(0), acts.unbind(0), gs.unbind(0), dout.unbind(0)
    cs, cts, ths, hts, outs = cells.unbind(0), c_tilde.unbind(0), tanh_c.unbind(0), h_tilde.unbind(0), out.unbind(0)
    for t in range(steps - 1, -1, -1):
        a, g, kt, tc = a_s[t], g_s[t], ks[t], ths[t]
        c_prev = cs[t]
        h_prev = outs[t - 1] if t > 0 else h0
        if need_dk:  # dL/dk_t = dh_t*(h~_t - h_{t-1}) + dc_t*(c~_t - c_{t-1})
            dkt = dk[t]
            torch.sub(hts[t], h_prev, out=dkt)
            dkt.mul_(dh)
            dkt.addcmul_(dc, torch.sub(cts[t], c_prev))
        dht = dh * kt
        dct = dc * kt
        dc_keep = torch.sub(dc, dct)  # (1 - k) dc, before dct gains the path through h~
        dct.addcmul_(dht * a[:, 3 * hidden:], torch.addcmul(ones, tc, tc, value=-1))
        torch.addcmul(a, a, a, value=-1, out=slope)  # s(1 - s)
        torch.addcmul(ones, g, g, value=-1, out=slope[:, 2 * hidden:3 * hidden])  # 1 - tanh^2
        dg = dgates[t]
        torch.mul(dct, g, out=dg[:, :hidden])
        torch.mul(dct, c_prev, out=dg[:, hidden:2 * hidden])
        torch.mul(dct, a[:, :hidden], out=dg[:, 2 * hidden:3 * hidden])
        torch.mul(dht, tc, out=dg[:, 3 * hidden:])
        dg.mul_(slope)
        dc = dc_keep.addcmul_(dct, a[:, hidden:2 * hidden])
        dh_direct = torch.sub(dh, dht)
        if t > 0:
            dh_direct.add_(douts[t - 1])
        dh = torch.addmm(dh_direct, dg, w_hh)
    return dgates, dk, dh, dc


class PhasedLSTMFunction(torch.autograd.Function):
    """``(xg [T, B, 4H], k [T, B, H], h0, c0 [B, H], w_hh [4H, H]) -> (h [T, B, H], h_T, c_T)``.

    ``xg`` is the input projection plus both biases, gate order i, f, g, o (torch.nn.LSTM's).
    All inputs contiguous and of one floating dtype and device.
    """

    @staticmethod
    def forward(ctx, xg, k, h0, c0, w_hh):
        with torch.no_grad():
            out, acts, gs, cells, c_tilde, tanh_c, h_tilde = _forward_loop(xg, k, h0, c0, w_hh)
        ctx.save_for_backward(k, h0, w_hh, acts, gs, cells, c_tilde, tanh_c, h_tilde, out)
        return out, out[-1].clone(), cells[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dh_last, dc_last):
        k, h0, w_hh, acts, gs, cells, c_tilde, tanh_c, h_tilde, out = ctx.saved_tensors
        steps, batch, four_h = acts.shape
        hidden = four_h // 4
        zeros = acts.new_zeros(batch, hidden)
        dout = acts.new_zeros(steps, batch, hidden) if dout is None else dout.contiguous()
        dh_last = zeros if dh_last is None else dh_last
        dc_last = zeros if dc_last is None else dc_last
        with torch.no_grad():
            dgates, dk, dh0, dc0 = _backward_loop(dout, dh_last, dc_last, k, h0, out, acts, gs, cells, c_tilde,
                                                  tanh_c, h_tilde, w_hh, ctx.needs_input_grad[1])
            dw = None
            if ctx.needs_input_grad[4]:  # sum_t dgates_t^T h_{t-1}: one product over all steps
                dw = dgates[0].t().mm(h0)
                if steps > 1:
                    dw.addmm_(dgates[1:].reshape(-1, four_h).t(), out[:-1].reshape(-1, hidden))
        return dgates, dk, dh0, dc0, dw


def phased_lstm_fused(xg, k, h0, c0, w_hh):
    return PhasedLSTMFunction.apply(xg.contiguous(), k.contiguous(), h0.contiguous(), c0.contiguous(),
                                    w_hh.contiguous())

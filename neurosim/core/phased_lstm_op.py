"""The Phased LSTM recurrence as one autograd Function with a hand-written backward pass.

Only the recurrent part runs step by step: the input projection of all T steps is one matrix
product before the call (done by the caller, differentiated by autograd), and in the backward pass
the weight gradient of the recurrent matrix is one matrix product over all steps after the loop.
Inside the loops every tensor is preallocated and written with ``out=`` so that each step is a
handful of ATen calls: the forward step is a ``addmm``, the gate nonlinearities, the cell and
two ``lerp``\\ s (the time gate); the backward step is eight calls, with everything that does not
depend on the recurrent gradient (gate derivatives, their products with the saved activations)
computed for all steps at once before the loop. Works on any device and in float32 / float64.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable


def _forward_loop(xg, k, h0, c0, w_hh):
    steps, batch, four_h = xg.shape
    hidden = four_h // 4
    w_t = w_hh.t()
    acts = torch.empty_like(xg)  # i, f, g, o after their nonlinearities
    cells = xg.new_empty(steps + 1, batch, hidden)  # c_0 ... c_T
    c_tilde = xg.new_empty(steps, batch, hidden)
    tanh_c = xg.new_empty(steps, batch, hidden)
    h_tilde = xg.new_empty(steps, batch, hidden)
    out = xg.new_empty(steps, batch, hidden)
    cells[0] = c0
    h, c = h0, c0
    xs, ks, a_s = xg.unbind(0), k.unbind(0), acts.unbind(0)
    cts, ths, hts, cs, outs = c_tilde.unbind(0), tanh_c.unbind(0), h_tilde.unbind(0), cells.unbind(0), out.unbind(0)
    for t in range(steps):
        a = a_s[t]
        torch.addmm(xs[t], h, w_t, out=a)
        g = a[:, 2 * hidden:3 * hidden]
        g.tanh_()
        a[:, :2 * hidden].sigmoid_()
        a[:, 3 * hidden:].sigmoid_()
        ct = cts[t]
        torch.mul(a[:, hidden:2 * hidden], c, out=ct)
        ct.addcmul_(a[:, :hidden], g)
        torch.tanh(ct, out=ths[t])
        c = torch.lerp(c, ct, ks[t], out=cs[t + 1])
        ht = torch.mul(a[:, 3 * hidden:], ths[t], out=hts[t])
        h = torch.lerp(h, ht, ks[t], out=outs[t])
    return out, acts, cells, c_tilde, tanh_c, h_tilde


def _backward_loop(dout, dh_last, dc_last, k, acts, cells, tanh_c, w_hh):
    steps, batch, four_h = acts.shape
    hidden = four_h // 4
    i, f, g, o = acts.split(hidden, dim=2)
    one_minus_k = 1 - k
    # dL/dc~_t = k_t*dc_t + [k_t*o_t*(1 - tanh^2 c~_t)] * dh_t: the bracket is known before the loop.
    k_dtanh = k * o * (1 - tanh_c * tanh_c)
    # dL/d(pre-activation of i, f, g) = dL/dc~ * coef, of o = dL/dh * coef_o.
    coef = acts.new_empty(steps, batch, 3, hidden)
    torch.mul(g, i * (1 - i), out=coef[:, :, 0])
    torch.mul(cells[:-1], f * (1 - f), out=coef[:, :, 1])
    torch.mul(i, 1 - g * g, out=coef[:, :, 2])
    coef_o = k * tanh_c * (o * (1 - o))
    dgates = torch.empty_like(acts)
    dh_all = acts.new_empty(steps, batch, hidden)  # total dL/dh_t (from the output and from step t+1)
    dc_all = acts.new_empty(steps, batch, hidden)
    torch.add(dout[-1], dh_last, out=dh_all[-1])
    dc_all[-1] = dc_last
    dgs, dhs, dcs = dgates.unbind(0), dh_all.unbind(0), dc_all.unbind(0)
    ks, kds, coefs, coef_os = k.unbind(0), k_dtanh.unbind(0), coef.unbind(0), coef_o.unbind(0)
    omks, fs, douts = one_minus_k.unbind(0), f.unbind(0), dout.unbind(0)
    dh0 = dc0 = None
    for t in range(steps - 1, -1, -1):
        dh, dc = dhs[t], dcs[t]
        dct = torch.mul(dc, ks[t])
        dct.addcmul_(kds[t], dh)
        dg = dgs[t]
        torch.mul(dct.unsqueeze(1), coefs[t], out=dg[:, :3 * hidden].view(batch, 3, hidden))
        torch.mul(dh, coef_os[t], out=dg[:, 3 * hidden:])
        if t > 0:
            torch.addcmul(torch.mul(omks[t], dc), fs[t], dct, out=dcs[t - 1])
            torch.addmm(torch.addcmul(douts[t - 1], omks[t], dh), dg, w_hh, out=dhs[t - 1])
        else:
            dc0 = torch.addcmul(torch.mul(omks[t], dc), fs[t], dct)
            dh0 = torch.addmm(torch.mul(omks[t], dh), dg, w_hh)
    return dgates, dh_all, dc_all, dh0, dc0


class PhasedLSTMFunction(torch.autograd.Function):
    """``(xg [T, B, 4H], k [T, B, H], h0, c0 [B, H], w_hh [4H, H]) -> (h [T, B, H], h_T, c_T)``.

    ``xg`` is the input projection plus both biases, gate order i, f, g, o (torch.nn.LSTM's).
    All inputs contiguous and of one floating dtype and device.
    """

    @staticmethod
    def forward(ctx, xg, k, h0, c0, w_hh):
        with torch.no_grad():
            out, acts, cells, c_tilde, tanh_c, h_tilde = _forward_loop(xg, k, h0, c0, w_hh)
        ctx.save_for_backward(k, h0, w_hh, acts, cells, c_tilde, tanh_c, h_tilde, out)
        return out, out[-1].clone(), cells[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dh_last, dc_last):
        k, h0, w_hh, acts, cells, c_tilde, tanh_c, h_tilde, out = ctx.saved_tensors
        steps, batch, four_h = acts.shape
        hidden = four_h // 4
        zeros = acts.new_zeros(batch, hidden)
        dout = acts.new_zeros(steps, batch, hidden) if dout is None else dout.contiguous()
        dh_last = zeros if dh_last is None else dh_last
        dc_last = zeros if dc_last is None else dc_last
        with torch.no_grad():
            dgates, dh_all, dc_all, dh0, dc0 = _backward_loop(dout, dh_last, dc_last, k, acts, cells, tanh_c, w_hh)
            h_prev = torch.cat([h0.unsqueeze(0), out[:-1]])
            dk = None
            if ctx.needs_input_grad[1]:
                dk = dh_all * (h_tilde - h_prev) + dc_all * (c_tilde - cells[:-1])
            dw = None
            if ctx.needs_input_grad[4]:
                dw = dgates.reshape(steps * batch, four_h).t().mm(h_prev.reshape(steps * batch, hidden))
        return dgates, dk, dh0, dc0, dw


def phased_lstm_fused(xg, k, h0, c0, w_hh):
    return PhasedLSTMFunction.apply(xg.contiguous(), k.contiguous(), h0.contiguous(), c0.contiguous(),
                                    w_hh.contiguous())

"""The Phased LSTM recurrence as one autograd Function with a hand-written backward pass.

Only the recurrent part runs step by step. The input projection of all T steps is one matrix
product before the loop (its result becomes the activation buffer, in place). After the backward
loop, the gradients of x, of both weight matrices (together, as ``dgates^T [x_t, h_{t-1}]``) and of
the bias are one product each over all steps.
Inside the loops every per-step view is made before the loop and results are written with ``out=``
or in place: a forward step is one ``addmm`` and nine elementwise calls; a backward step is one
``addmm`` and about twenty elementwise calls on that step's [B, H] slices, two of them on [2, B, H]
pairs ``[dL/dc_t; dL/dh_t]``. Keeping the elementwise work inside the loop, on slices that stay in
cache, was about 3x faster on a CPU than the same arithmetic as whole-sequence passes (bound by
memory bandwidth). Saved for the backward pass: the activations, tanh(c~_t), the cells and the
outputs (c~_t and h~_t are recomputed, bit for bit, when the gate needs its gradient). Works on any
device and in float32 / float64; not twice differentiable.
"""

from __future__ import annotations

import torch


def _gate_views(acts, quarters):
    """Per-step [B, H] views of the gate quarters (i, f, g, o = 0, 1, 2, 3) of acts [T, B, 4H]."""
    steps, batch, four_h = acts.shape
    by_gate = acts.view(steps, batch, 4, four_h // 4)
    return [by_gate[:, :, q].unbind(0) for q in quarters]


def _forward_loop(xg, k, h0, c0, w_hh):
    # Stores what the backward pass needs and no more: acts (i, f, o after their sigmoid, g after
    # its tanh, in place of the pre-activations), tanh(c~_t), c_0 .. c_T and the outputs. c~_t and
    # h~_t are recomputed there, bit for bit, only when the gate needs its gradient.
    steps, batch, four_h = xg.shape
    hidden = four_h // 4
    w_t = w_hh.t()
    acts = xg
    tanh_c = xg.new_empty(steps, batch, hidden)
    cells = xg.new_empty(steps + 1, batch, hidden)  # c_0 ... c_T
    out = xg.new_empty(steps, batch, hidden)
    c_tilde, h_tilde = xg.new_empty(batch, hidden), xg.new_empty(batch, hidden)  # this step's only
    cells[0] = c0
    h = h0
    # every per-step view is made up front (unbind is one call in C++; slicing in the loop is not)
    a_s, k_s, th_s, c_s, out_s = acts.unbind(0), k.unbind(0), tanh_c.unbind(0), cells.unbind(0), out.unbind(0)
    in_forget_s = acts[:, :, :2 * hidden].unbind(0)
    in_s, forget_s, g_s, out_gate_s = _gate_views(acts, range(4))
    for t in range(steps):
        g, th = g_s[t], th_s[t]
        a_s[t].addmm_(h, w_t)
        g.tanh_()
        in_forget_s[t].sigmoid_()
        out_gate_s[t].sigmoid_()
        torch.mul(forget_s[t], c_s[t], out=c_tilde).addcmul_(in_s[t], g)
        torch.tanh(c_tilde, out=th)
        torch.lerp(c_s[t], c_tilde, k_s[t], out=c_s[t + 1])
        h = torch.lerp(h, torch.mul(out_gate_s[t], th, out=h_tilde), k_s[t], out=out_s[t])
    return out, acts, cells, tanh_c


def _backward_loop(dout, dh_last, dc_last, k, h0, out, acts, cells, tanh_c, w_hh, need_dk):
    # Every step works on [B, H] views made up front, which stay in cache: on a CPU this beats
    # whole-sequence elementwise passes, which are bound by memory bandwidth.
    steps, batch, four_h = acts.shape
    hidden = four_h // 4
    dgates = torch.empty_like(acts)
    dk = acts.new_empty(steps, batch, hidden) if need_dk else None
    ones = acts.new_ones(batch, hidden)
    slope = acts.new_empty(batch, four_h)  # derivative of each nonlinearity at this step
    slope_g = slope[:, 2 * hidden:3 * hidden]
    deriv = acts.new_empty(batch, hidden)
    # [dL/dc_t; dL/dh_t] and its k-weighted part [dL/dc~_t; dL/dh~_t], each one [2, B, H] tensor,
    # so that one call handles both
    grad, grad_next = acts.new_empty(2, batch, hidden), acts.new_empty(2, batch, hidden)
    grad[0].copy_(dc_last)
    if dout is None:
        grad[1].copy_(dh_last)
    else:
        torch.add(dout[-1], dh_last, out=grad[1])
    tilde_grad = acts.new_empty(2, batch, hidden)
    dct, dht = tilde_grad.unbind(0)
    diff = acts.new_empty(2, batch, hidden) if need_dk else None
    diff_c, diff_h = diff.unbind(0) if need_dk else (None, None)
    in_s, forget_s, g_s, out_gate_s = _gate_views(acts, range(4))
    di_s, df_s, dg_s, do_s = _gate_views(dgates, range(4))
    a_s, th_s, k_s, dgate_s, c_s = acts.unbind(0), tanh_c.unbind(0), k.unbind(0), dgates.unbind(0), cells.unbind(0)
    h_prev_s = (h0,) + out.unbind(0)[:-1]
    dout_s = None if dout is None else dout.unbind(0)
    dk_s = dk.unbind(0) if need_dk else None
    for t in range(steps - 1, -1, -1):
        a, g, th, kt, c_prev = a_s[t], g_s[t], th_s[t], k_s[t], c_s[t]
        torch.mul(grad, kt, out=tilde_grad)
        if need_dk:  # dL/dk_t = dL/dc_t*(c~_t - c_{t-1}) + dL/dh_t*(h~_t - h_{t-1}), c~ and h~ as in the forward
            torch.mul(forget_s[t], c_prev, out=diff_c).addcmul_(in_s[t], g).sub_(c_prev)
            torch.mul(out_gate_s[t], th, out=diff_h).sub_(h_prev_s[t])
            diff.mul_(grad)
            torch.add(diff_c, diff_h, out=dk_s[t])
        kept = torch.sub(grad, tilde_grad, out=grad_next)  # (1 - k) [dL/dc_t; dL/dh_t]
        # dL/dc~ gains the path through h~ = o*tanh(c~)
        dct.addcmul_(dht, torch.addcmul(ones, th, th, value=-1, out=deriv).mul_(out_gate_s[t]))
        torch.addcmul(a, a, a, value=-1, out=slope)  # s(1 - s)
        torch.addcmul(ones, g, g, value=-1, out=slope_g)  # 1 - tanh^2
        torch.mul(dct, g, out=di_s[t])
        torch.mul(dct, c_prev, out=df_s[t])
        torch.mul(dct, in_s[t], out=dg_s[t])
        torch.mul(dht, th, out=do_s[t])
        dg = dgate_s[t].mul_(slope)
        kept[0].addcmul_(dct, forget_s[t])
        if t > 0 and dout_s is not None:
            kept[1].add_(dout_s[t - 1])
        kept[1].addmm_(dg, w_hh)
        grad, grad_next = kept, grad
    return dgates, dk, grad[1], grad[0]


def _refuse_double_backward() -> None:
    # create_graph=True runs the backward with grad mode on. (once_differentiable, used before, gave
    # no clear error: torch.autograd.grad(..., inputs) skips its error node, so a second derivative
    # through the layer came back as 0 or as an unrelated "Tensor ... not used in the graph" error.)
    if torch.is_grad_enabled():
        raise RuntimeError(
            "neurosim: the fused Phased LSTM loop (backend='auto') has no double backward (create_graph=True "
            "asked for gradients of its gradients); run the model with backend='torch', which supports it"
        )


class PhasedLSTMFunction(torch.autograd.Function):
    """``(x [T, B, I], k [T, B, H], h0, c0 [B, H], w_ih [4H, I], w_hh [4H, H], bias [4H] or None)
    -> (h [T, B, H], h_T, c_T)``, torch.nn.LSTM's layout (gate order i, f, g, o; ``bias`` is
    ``b_ih + b_hh``). All tensors contiguous, of one floating dtype and device.
    """

    @staticmethod
    def forward(ctx, x, k, h0, c0, w_ih, w_hh, bias):
        steps, batch, n_in = x.shape
        with torch.no_grad():
            # the input projection of all steps in one product; the loop turns it into activations
            xg = torch.nn.functional.linear(x, w_ih, bias)
            out, acts, cells, tanh_c = _forward_loop(xg, k, h0, c0, w_hh)
        ctx.has_bias = bias is not None
        ctx.save_for_backward(x, k, h0, w_ih, w_hh, acts, cells, tanh_c, out)
        return out, out[-1].clone(), cells[-1].clone()

    @staticmethod
    def backward(ctx, dout, dh_last, dc_last):
        _refuse_double_backward()
        x, k, h0, w_ih, w_hh, acts, cells, tanh_c, out = ctx.saved_tensors
        steps, batch, four_h = acts.shape
        hidden = four_h // 4
        zeros = acts.new_zeros(batch, hidden)
        dh_last = zeros if dh_last is None else dh_last
        dc_last = zeros if dc_last is None else dc_last
        with torch.no_grad():
            dgates, dk, dh0, dc0 = _backward_loop(dout, dh_last, dc_last, k, h0, out, acts, cells, tanh_c, w_hh,
                                                  ctx.needs_input_grad[1])
            flat = dgates.view(-1, four_h)
            need_x, need_w_ih, need_w_hh = (ctx.needs_input_grad[i] for i in (0, 4, 5))
            dx = flat.mm(w_ih).view(x.shape) if need_x else None
            dw_ih = dw_hh = None
            n_in = x.shape[-1]
            if need_w_ih and need_w_hh:
                # both weight gradients in one product: dgates^T [x_t, h_{t-1}] over all steps
                inputs = x.new_empty(steps * batch, n_in + hidden)
                inputs[:, :n_in] = x.view(-1, n_in)
                inputs[:batch, n_in:] = h0
                inputs[batch:, n_in:] = out[:-1].view(-1, hidden)
                dw = inputs.t().mm(flat).t()
                dw_ih, dw_hh = dw[:, :n_in], dw[:, n_in:]
            elif need_w_ih:
                dw_ih = flat.t().mm(x.view(-1, n_in))
            elif need_w_hh:  # sum_t dgates_t^T h_{t-1}: one product over all steps
                dw_hh = dgates[0].t().mm(h0)
                if steps > 1:
                    dw_hh.addmm_(dgates[1:].view(-1, four_h).t(), out[:-1].view(-1, hidden))
            dbias = None
            if ctx.has_bias and ctx.needs_input_grad[6]:  # a matrix-vector product reads flat once
                dbias = torch.mv(flat.t(), flat.new_ones(flat.shape[0]))
        return dx, dk, dh0, dc0, dw_ih, dw_hh, dbias


def phased_lstm_fused(x, k, h0, c0, w_ih, w_hh, bias=None):
    c = torch.Tensor.contiguous
    return PhasedLSTMFunction.apply(c(x), c(k), c(h0), c(c0), c(w_ih), c(w_hh), None if bias is None else c(bias))

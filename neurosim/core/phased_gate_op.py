"""The Phased LSTM time gate as one autograd Function with a hand-written backward pass.

``k = where(phi < r_on, 1 - |2 phi / r_on - 1|, alpha * phi)`` with ``phi = ((t - shift) mod tau) / tau``.
The forward pass does exactly the operations of :func:`gate_from_phase` and :func:`phase_of` (so
``k`` is bitwise the same), but on blocks of rows that stay in cache, writing into preallocated
outputs. Through autograd the same formula took about four times as long
(forward and backward over [500, 16] timestamps and 256 units on a CPU), most of it in the
backward pass, which reduces a dozen [..., units] temporaries over every timestamp.

The backward pass uses that the gate is piecewise linear in the phase. With
``z = 2 phi / r_on - 1``, ``g = dL/dk * dk/dphi`` where ``dk/dphi = -2 sign(z) / r_on`` in the open
phase and ``alpha`` outside it, and, summed over all timestamps,

* ``dL/dshift = -sum(g) / tau``,     ``dL/dtau = -sum(g * (t - shift)) / tau^2``  (``d phi / d tau = -(t - s) / tau^2``),
* ``dL/dr_on = -sum_open(g * phi) / r_on``,   ``dL/dalpha = sum_closed(dL/dk * phi)``,
* ``dL/dt = sum_units(g / tau)``.

``sum(g * t)`` is one matrix-vector product per block. Works on any device and dtype. Under
``create_graph=True`` (a double backward) the backward pass instead differentiates the formula by
autograd, so that second derivatives through the gate are exact too.
"""

from __future__ import annotations

import torch

# elements per block: large enough that the per-call overhead is small, small enough that the
# block's temporaries stay in a core's L2 cache (64K was the fastest here, against 32K and 128K)
_BLOCK_ELEMENTS = 1 << 16


def _rows_per_block(units: int) -> int:
    return max(1, _BLOCK_ELEMENTS // units)


def phase_work_dtype(times: torch.Tensor, tau: torch.Tensor) -> torch.dtype:
    """The phase is computed in the wider of the timestamps' and tau's dtype, so float64 times keep
    their precision; integer times in float64 (exact to 2^53: microsecond event timestamps pass
    float32's 2^24 within 17 seconds)."""
    return torch.promote_types(times.dtype if times.is_floating_point() else torch.float64, tau.dtype)


class TimeGateFunction(torch.autograd.Function):
    """``(times [...], tau [U], shift, r_on, alpha) -> (k [..., U], phi [..., U])``: ``shift``,
    ``r_on`` and ``alpha`` are 0-d or [U] tensors, all four parameters of tau's dtype and device.
    ``phi`` is returned for the open-phase mask and carries no gradient."""

    @staticmethod
    def forward(ctx, times, tau, shift, r_on, alpha):
        units = tau.shape[0]
        work = phase_work_dtype(times, tau)
        flat_times = times.reshape(-1)
        rows = flat_times.shape[0]
        tau_w, shift_w = tau.to(work), shift.to(work)
        k = tau.new_empty(rows, units)
        phi = tau.new_empty(rows, units)
        block = _rows_per_block(units)
        open_ = tau.new_empty(min(block, rows), units)
        with torch.no_grad():
            for start in range(0, rows, block):
                stop = min(start + block, rows)
                t = flat_times[start:stop].to(work).unsqueeze(-1)
                # the operations of phase_of and gate_from_phase (same values), in place; the open
                # phase as a 0/1 mask of phi's dtype and lerp in place of where (exact at 0 and 1:
                # lerp(a, b, 0) = a, lerp(a, b, 1) = b): bool tensors are slow on a CPU
                ph_out = phi[start:stop]
                if work == phi.dtype:
                    torch.remainder(t - shift_w, tau_w, out=ph_out).div_(tau_w)
                else:
                    ph_out.copy_(torch.remainder(t - shift_w, tau_w).div_(tau_w))
                mask = torch.lt(ph_out, r_on, out=open_[:stop - start])
                rising = torch.rsub(torch.mul(ph_out, 2).div_(r_on).sub_(1).abs_(), 1)  # 1 - |2 phi / r_on - 1|
                torch.lerp(alpha * ph_out, rising, mask, out=k[start:stop])
        ctx.save_for_backward(times, tau, shift, r_on, alpha, phi)
        shape = (*times.shape, units)
        phi_out = phi.view(shape)
        ctx.mark_non_differentiable(phi_out)
        return k.view(shape), phi_out

    @staticmethod
    def backward(ctx, dk, _dphi):
        times, tau, shift, r_on, alpha = ctx.saved_tensors[:5]
        phi = ctx.saved_tensors[5]
        need_times, need_tau, need_shift, need_r_on, need_alpha = ctx.needs_input_grad
        units = tau.shape[0]
        if dk is None or not any(ctx.needs_input_grad):
            return None, None, None, None, None
        if torch.is_grad_enabled():
            # create_graph=True: the hand-written pass below is not differentiable (with
            # once_differentiable, torch.autograd.grad(..., inputs) silently skipped its error node
            # and returned 0 for the second derivative), so differentiate the formula instead
            return _formula_backward(ctx, dk, times, tau, shift, r_on, alpha)
        need_times = need_times and times.is_floating_point()
        work = phase_work_dtype(times, tau)
        flat_times = times.reshape(-1)
        rows = flat_times.shape[0]
        dk = dk.reshape(rows, units)
        tau_w, shift_w = tau.to(work), shift.to(work)
        minus_two_over_r = (-2.0 / r_on).expand(units)
        slope_closed = alpha.expand(units)
        sum_g = tau.new_zeros(units) if (need_tau or need_shift) else None
        sum_g_t = tau_w.new_zeros(units) if need_tau else None
        sum_g_phi_open = tau.new_zeros(units) if need_r_on else None
        sum_dk_phi_closed = tau.new_zeros(units) if need_alpha else None
        d_times = tau_w.new_empty(rows) if need_times else None
        inv_tau = 1 / tau_w if need_times else None
        block = _rows_per_block(units)
        open_ = tau.new_empty(min(block, rows), units)
        with torch.no_grad():
            for start in range(0, rows, block):
                stop = min(start + block, rows)
                ph, dk_b = phi[start:stop], dk[start:stop]
                mask = torch.lt(ph, r_on, out=open_[:stop - start])  # 1 in the open phase, else 0
                # g = dL/dphi: -2 sign(z) / r_on in the open phase, alpha outside it
                sign_z = torch.mul(ph, 2).div_(r_on).sub_(1).sign_()
                g = torch.lerp(slope_closed, sign_z.mul_(minus_two_over_r), mask).mul_(dk_b)
                if sum_g is not None:
                    sum_g.add_(g.sum(0))
                if sum_g_t is not None:  # sum over rows of g * t: one matrix-vector product
                    sum_g_t.addmv_(g.t().to(work), flat_times[start:stop].to(work))
                if sum_g_phi_open is not None:
                    sum_g_phi_open.add_(torch.mul(g, ph).mul_(mask).sum(0))
                if sum_dk_phi_closed is not None:
                    sum_dk_phi_closed.add_(torch.mul(dk_b, ph).mul_(1 - mask).sum(0))
                if d_times is not None:
                    torch.mv(g.to(work), inv_tau, out=d_times[start:stop])
            d_tau = d_shift = d_r_on = d_alpha = None
            if need_tau:  # sum g (t - shift) = sum g t - shift sum g
                d_tau = (sum_g_t - shift_w * sum_g.to(work)).div_(tau_w * tau_w).neg_().to(tau.dtype)
            if need_shift:
                d_shift = (-sum_g / tau).sum_to_size(shift.shape)
            if need_r_on:
                d_r_on = (-sum_g_phi_open / r_on).sum_to_size(r_on.shape)
            if need_alpha:
                d_alpha = sum_dk_phi_closed.sum_to_size(alpha.shape)
            if need_times:
                d_times = d_times.view(times.shape).to(times.dtype)
        return d_times, d_tau, d_shift, d_r_on, d_alpha


def phase_of(times, tau, shift):
    """The phase ``((t - shift) mod tau) / tau`` of every timestamp and unit, ``[..., units]``,
    computed in :func:`phase_work_dtype` and returned in tau's dtype (the formula by autograd)."""
    work = phase_work_dtype(times, tau)
    t = times.to(work).unsqueeze(-1)
    return (torch.remainder(t - shift.to(work), tau.to(work)) / tau.to(work)).to(tau.dtype)


def gate_from_phase(phi, r_on, alpha):
    """The triangle ``1 - |2 phi / r_on - 1|`` inside the open phase ``phi < r_on``, ``alpha * phi`` outside."""
    return torch.where(phi < r_on, 1 - torch.abs(2 * phi / r_on - 1), alpha * phi)


def _formula_backward(ctx, dk, times, tau, shift, r_on, alpha):
    """The gradients of :class:`TimeGateFunction` by autograd through the gate's formula
    (:func:`phase_of`, :func:`gate_from_phase`), with a graph of their own."""
    need = list(ctx.needs_input_grad)
    need[0] = need[0] and times.is_floating_point()
    inputs = (times, tau, shift, r_on, alpha)
    wanted = [v for v, n in zip(inputs, need) if n]
    with torch.enable_grad():
        k = gate_from_phase(phase_of(times, tau, shift), r_on, alpha)
        grads = torch.autograd.grad(k, wanted, dk.reshape(k.shape), create_graph=True, allow_unused=True)
    grads = iter(grads)
    out = []
    for v, n in zip(inputs, need):
        g = next(grads) if n else None
        out.append(torch.zeros_like(v) if n and g is None else g)
    return tuple(out)


def time_gate_fused(times, tau, shift, r_on, alpha):
    """``(k, phi)`` of :class:`TimeGateFunction`; parameters must share tau's dtype and device."""
    return TimeGateFunction.apply(times, tau, shift, r_on, alpha)

"""The theta gate of the hippocampal model, in the paper's convention.

``wake(t)`` is the paper's theta: 1 means wake (bottom-up: the basal compartment drives the
soma), 0 means sleep (top-down: the apical compartment drives it). The soma takes
``(1 - a) * basal + a * apical`` with ``a = apical_fraction(t) = 1 - wake(t)``.

Mapping to the authors' code (HelmholtzHippocampus, ``theta_gating``): their gate ``theta_code``
weights the *apical* compartment, so ``a = theta_code``, and their square wave starts each cycle
with its sleep half. Ours starts each cycle with its wake half: for ``wake_fraction = 0.5``,
``wake(t) = 1 - theta_code(t + 1 / (2 f))``, i.e. their ``theta_phase_offset = 0.5`` gives our
schedule. Their ``'constant_0'`` / ``'constant_1'`` test modes are our ``"wake"`` / ``"sleep"``.
"""

from __future__ import annotations

import math

import numpy as np

SHAPES = ("square", "sine")
# Rounds k * dt * f to the step grid so 4 * 0.025 * 5 lands on 0.5 and not just below it.
_PHASE_EPS = 1e-9


class ThetaGate:
    """A periodic wake/sleep gate.

    frequency: theta frequency in Hz (> 0). shape: ``"square"`` (the paper's) or ``"sine"``.
    wake_fraction: the share of each cycle spent in wake (square), or the phase at which the sine
    crosses 1/2 on its way down (the code's ``frac`` warp). phase: the cycle phase at t = 0, in [0, 1).
    """

    def __init__(self, frequency: float = 5.0, shape: str = "square", wake_fraction: float = 0.5,
                 phase: float = 0.0):
        for name, value in (("frequency", frequency), ("wake_fraction", wake_fraction), ("phase", phase)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"theta {name}: expected a finite number, got {value!r}")
        if frequency <= 0:
            raise ValueError(f"theta frequency: must be > 0 Hz, got {frequency}")
        if shape not in SHAPES:
            raise ValueError(f"theta shape: expected one of {SHAPES}, got {shape!r}")
        if not 0 < wake_fraction < 1:
            raise ValueError(f"theta wake_fraction: must lie in (0, 1), got {wake_fraction}")
        if not 0 <= phase < 1:
            raise ValueError(f"theta phase: must lie in [0, 1), got {phase}")
        self.frequency = float(frequency)
        self.shape = shape
        self.wake_fraction = float(wake_fraction)
        self.phase = float(phase)

    @property
    def period(self) -> float:
        return 1.0 / self.frequency

    def check_dt(self, dt: float) -> None:
        """A step must be shorter than a theta period, or the gate cannot alternate."""
        if dt >= self.period:
            raise ValueError(
                f"dt: must be shorter than the theta period 1/{self.frequency:g} Hz = {self.period:g} s, got {dt}"
            )

    def wake(self, times) -> np.ndarray:
        """The paper's theta at the given times (s): 1 wake, 0 sleep (fractional for the sine)."""
        t = np.asarray(times, dtype=np.float64)
        cycle = np.mod(t * self.frequency + self.phase + _PHASE_EPS, 1.0)
        if self.shape == "square":
            return (cycle < self.wake_fraction).astype(np.float64)
        warp = math.log(0.5) / math.log(self.wake_fraction)
        return 0.5 * (1.0 + np.sin(2.0 * np.pi * cycle**warp))

    def apical_fraction(self, times) -> np.ndarray:
        """The weight of the apical compartment at the soma (the authors' theta_code)."""
        return 1.0 - self.wake(times)

    def __repr__(self) -> str:
        return (f"ThetaGate(frequency={self.frequency:g}, shape={self.shape!r}, "
                f"wake_fraction={self.wake_fraction:g}, phase={self.phase:g})")

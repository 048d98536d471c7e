"""Euler sampling of a flow-matching ODE from noise (t = 0) to data (t = 1)."""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import Tensor

Velocity = Callable[[Tensor, Tensor], Tensor]
"""(t: 0-d float32 tensor, x: (B, T, F) float32) -> velocity (B, T, F)."""

StepCallback = Callable[[Tensor, Tensor, Tensor], None]
"""Called as (t, x, v) at every step, before the update."""


def time_grid(num_step: int, t_shift: float = 1.0) -> Tensor:
    """(num_step + 1,) float32 times on the CPU: a uniform grid warped by t' = s t / (1 + (s - 1) t).

    s < 1 spends more steps at small t (low signal-to-noise). The last time is exactly 1.
    """
    if num_step < 1:
        raise ValueError(f"num_step must be >= 1, got {num_step}")
    if not t_shift > 0:
        raise ValueError(f"t_shift must be > 0, got {t_shift}")
    t = torch.linspace(0.0, 1.0, num_step + 1, dtype=torch.float32)
    t = t_shift * t / (1 + (t_shift - 1) * t)
    t[-1] = 1.0
    return t


def euler_sample(
    velocity: Velocity,
    x0: Tensor,
    num_step: int,
    t_shift: float = 1.0,
    step_callback: Optional[StepCallback] = None,
) -> Tensor:
    """Integrate dx/dt = velocity(t, x) from x0 at t = 0 to t = 1 with plain Euler steps.

    x0: (B, T, F); the state is kept in float32 whatever precision the velocity runs in. Returns x at t = 1.
    """
    times = time_grid(num_step, t_shift)
    steps = times[1:] - times[:-1]
    x = x0.float()
    for k in range(num_step):
        v = velocity(times[k], x).float()
        if step_callback is not None:
            step_callback(times[k], x, v)
        x = x + v * steps[k]
    return x

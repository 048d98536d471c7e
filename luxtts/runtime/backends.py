"""Pick how a loaded LuxTTS runs: eager PyTorch (default) or torch.compile; int8; half precision.

ONNX Runtime was measured as a third backend (``benchmarks/compare_backends.py``: our own export of the
decoder step) and not kept: on the reference CPU (W1 shape, 2 threads, 2026-11-25) its float32 step took 1.653 s
against 1.376 s in eager PyTorch, and its dynamic int8 model 1.377 s against 0.662 s for ours, at the same SNR
(23.3 dB against float32).
"""

from __future__ import annotations

from typing import Optional

from ..errors import InvalidOptionError

BACKENDS = ("eager", "compile")


def apply_backend(tts, backend: str = "eager", quantize: Optional[str] = None):
    """Change ``tts.model`` in place to run with ``backend`` / ``quantize`` (after a float32 load).

    The dtype is the one ``tts`` was loaded with (``LuxTTS(..., dtype=...)``). Returns ``tts``.
    """
    from . import optimize_model

    if backend not in BACKENDS:
        raise InvalidOptionError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
    if quantize is not None:
        tts.model = optimize_model(tts.model, quantize=quantize)
    if backend == "compile":
        from .compile import compile_model

        tts.model = compile_model(tts.model)
    return tts

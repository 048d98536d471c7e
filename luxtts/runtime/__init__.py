"""Runtime settings for speed: int8 weights, half precision, threads, what the CPU can do.

Nothing here changes what the model computes in its default float32 form; each transform is opt-in and
returns the model it was given, changed in place.

Eager PyTorch is the only backend; one elementwise step, the Swoosh tail, has a C kernel of our own
(:mod:`luxtts.runtime.native`, built with the system's GCC when there is one, ``$LUXTTS_NATIVE``). Measured against it on the reference CPU (W1 shape, 2 threads, 2026-11-25;
``benchmarks/compare_backends.py``): ONNX Runtime with our own export of the decoder step took 1.653 s a step
against 1.376 s, and its dynamic int8 model 1.377 s against 0.662 s for ours at the same SNR (23.3 dB against
float32); torch.compile of the decoder step took 1.80-1.87 s against 1.55 s (before the Swoosh folding) after
~130 s of compilation. Neither earned a place in the runtime.
"""

from .attention import int8_attention_dtype, set_attention_dtype
from .precision import cast_model, snr_db
from .quantize import Int8Linear, check_quantize, int8_engine, int8_transform, quantize_int8, quantized_report

__all__ = ["optimize_model", "cast_model", "snr_db", "quantize_int8", "int8_transform", "int8_engine", "quantized_report", "Int8Linear",
           "is_quantized", "int8_attention_dtype", "set_attention_dtype"]


def is_quantized(model) -> bool:
    """Whether any linear layer of ``model`` runs in int8."""
    return any(isinstance(m, Int8Linear) for m in model.modules())


def optimize_model(model, quantize=None, dtype=None):
    """Apply ``dtype`` (None/float32, bfloat16, float16) then ``quantize`` (None or "int8") to an acoustic model.

    Returns the model. int8 needs float32 weights and a CPU model; it quantizes every large linear layer and
    sets the attention's dtype (:func:`int8_attention_dtype`).
    """
    if dtype is not None:
        model = cast_model(model, dtype)
    check_quantize(quantize)
    if quantize is not None:
        model = quantize_int8(model)
        set_attention_dtype(model, int8_attention_dtype())
    return model

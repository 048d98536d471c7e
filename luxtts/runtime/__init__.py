"""Runtime backends and settings for speed: int8 weights, half precision, threads, exported graphs.

Nothing here changes what the model computes in its default float32 form; each transform is opt-in and
returns the model it was given (changed in place) or a wrapper with the same ``sample`` signature.
"""

from .precision import cast_model
from .quantize import Int8Linear, check_quantize, int8_transform, quantize_int8, quantized_report

__all__ = ["optimize_model", "cast_model", "quantize_int8", "int8_transform", "quantized_report", "Int8Linear",
           "is_quantized"]


def is_quantized(model) -> bool:
    """Whether any linear layer of ``model`` runs in int8."""
    return any(isinstance(m, Int8Linear) for m in model.modules())


def optimize_model(model, quantize=None, dtype=None):
    """Apply ``dtype`` (None/float32, bfloat16, float16) then ``quantize`` (None or "int8") to an acoustic model.

    Returns the model. int8 needs float32 weights and a CPU model; it quantizes every large linear layer.
    """
    if dtype is not None:
        model = cast_model(model, dtype)
    check_quantize(quantize)
    if quantize is not None:
        model = quantize_int8(model)
    return model

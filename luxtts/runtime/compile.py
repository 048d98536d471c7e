"""torch.compile for the decoder (measured, not the default).

On the 2-core Zen 4 reference machine (W1, fp32) the compiled decoder step took 1.80-1.87 s against 1.55 s
in eager mode, after ~130 s of compilation; with inductor's weight freezing the channels-last depthwise
convolution does not compile. Kept so the measurement can be repeated (``luxtts bench --backend compile``),
and because on other machines (GPUs in particular) the balance may differ.
"""

from __future__ import annotations

import torch


def compile_model(model, dynamic: bool = True, **kwargs):
    """Compile ``model.fm_decoder.encode`` (the per-step network) in place; returns ``model``.

    The attention then runs unblocked (the query-block loop needs concrete shapes) and linear layers go
    through ``F.linear``, both of which inductor fuses and plans itself.
    """
    dec = model.fm_decoder
    dec.encode = torch.compile(dec.encode, dynamic=dynamic, **kwargs)
    return model

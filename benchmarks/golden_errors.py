"""Max abs error and SNR of our model against the model goldens, per case, for a chosen precision.

    python benchmarks/golden_errors.py [--golden DIR] [--quantize int8] [--dtype bfloat16] [--json PATH]

Prints one line per case: velocity at t=0.3 and the sampled features, as max abs error and SNR (dB) against
the golden (fp32 reference) values.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from luxtts.runtime import snr_db

DEFAULT_GOLDEN = Path(__file__).resolve().parents[1] / ".." / "shared" / "golden"


def case_errors(model, g: dict, case: dict) -> dict:
    from safetensors.torch import load_file  # noqa: F401  (keeps the import cost out of model timing)

    v = model.velocity(0.3, g["noise"], g["text_condition"], g["speech_condition"], g["padding_mask"],
                       case["guidance_scale"])
    feats, _ = model.sample(case["tokens"], case["prompt_tokens"], g["prompt_features"], g["prompt_features_lens"],
                            speed=case["speed"], t_shift=case["t_shift"], guidance_scale=case["guidance_scale"],
                            num_step=case["num_step"], noise=g["noise"])
    return {
        "velocity_max_abs": (v - g["velocity_t0_3"]).abs().max().item(),
        "velocity_snr_db": snr_db(v, g["velocity_t0_3"]),
        "features_max_abs": (feats - g["features_out"]).abs().max().item(),
        "features_snr_db": snr_db(feats, g["features_out"]),
    }


def run(golden: Path, quantize, dtype) -> dict:
    from safetensors.torch import load_file

    from luxtts.model import load_acoustic_model
    from luxtts.runtime import optimize_model

    out = {}
    for subdir in ("model_distill", "model_base"):
        folder = golden / subdir
        model = load_acoustic_model(folder / "model.pt", folder / "config.json", folder / "tokens.txt")
        model = optimize_model(model, quantize=quantize, dtype=dtype)
        spec = json.loads((folder / "cases.json").read_text())
        for case in spec["cases"]:
            g = load_file(str(folder / case["file"]))
            out[f"{subdir}/{case['file']}"] = case_errors(model, g, case)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--golden", type=Path, default=Path(os.environ.get("LUXTTS_GOLDEN_DIR", DEFAULT_GOLDEN)))
    ap.add_argument("--quantize", choices=["int8"], default=None)
    ap.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    dtype = None if args.dtype == "float32" else args.dtype
    res = run(args.golden.resolve(), args.quantize, dtype)
    for name, r in res.items():
        print(f"{name:32s} velocity {r['velocity_max_abs']:.2e} ({r['velocity_snr_db']:6.1f} dB)  "
              f"features {r['features_max_abs']:.2e} ({r['features_snr_db']:6.1f} dB)")
    worst = {k: max(r[k] for r in res.values()) for k in ("velocity_max_abs", "features_max_abs")}
    worst.update({k: min(r[k] for r in res.values()) for k in ("velocity_snr_db", "features_snr_db")})
    print("worst:", json.dumps(worst))
    if args.json:
        args.json.write_text(json.dumps({"cases": res, "worst": worst}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The whole-pipeline benchmark (same as ``luxtts bench``): RTF, peak RSS, GFLOP/s and the ratio to our plain
float32 path, each variant in its own process, in one run.

    python benchmarks/bench.py --random-full --workload w1 --quantize int8 --repeat 2
    python benchmarks/bench.py --random-full --workload w2 --words 2000 --quantize int8 --no-baseline

Other scripts here: golden_errors.py (int8 / bfloat16 error on the model goldens), precision_w1.py (their
mel SNR on W1), compare_backends.py (eager vs ONNX Runtime vs torch.compile for one decoder step),
compare_upstream.py (ours against a user-fetched upstream checkout, same weights, alternating rounds).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from luxtts.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))

"""The golden tests hold on any golden set of the same layout, not only on the shared one's batch sizes.

A second golden folder is made from the shared one with every re-batchable case given another batch size
(golden_rebatch.py), and the golden tests that read batched cases run on it in a child pytest. The long-form
memory test is not among them: it depends on the model's size, which re-batching does not change.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from conftest import GOLDEN_DIR, golden_spec, load_golden
from golden_rebatch import REBATCH, build_rebatched, objective_losses

REPO = Path(__file__).resolve().parents[1]
# The golden tests that take batches, frames or per-item values from golden cases. The model's re-batched cases
# run through its two cheap checks (the sampling check passes too, at three times the cost); the vocoder's
# through test_vocoder_api, which builds its own batches from them.
SHAPE_SENSITIVE = [
    "tests/test_train_objective_golden.py",
    "tests/test_train_distill.py::test_one_distillation_step_lowers_the_loss_and_the_guidance_input_is_used",
    "tests/test_train_overfit.py",
    "tests/test_model_golden.py::test_text_condition",
    "tests/test_model_golden.py::test_velocity_at_t_0_3",
    "tests/test_vocoder_api.py",
]


@pytest.fixture(scope="module")
def rebatched(tmp_path_factory) -> Path:
    return build_rebatched(GOLDEN_DIR, tmp_path_factory.mktemp("golden") / "rebatched")


def test_recomputed_losses_match_the_saved_ones():
    """The re-batched set recomputes batch-mean losses; on the shared cases that recomputation gives upstream's."""
    for case in golden_spec("train_objective")["cases"]:
        g = load_golden("train_objective", case["file"])
        for key, value in objective_losses(g, case).items():
            assert value.item() == pytest.approx(case[key], rel=1e-5), (case["file"], key)


def test_the_second_set_has_other_batch_sizes(rebatched):
    for name in REBATCH:
        after = json.loads((rebatched / name / "cases.json").read_text(encoding="utf-8"))["cases"]
        for old, new in zip(golden_spec(name)["cases"], after):
            want, got = load_golden(name, old["file"]), load_file(str(rebatched / name / new["file"]))
            key = next(k for k in ("noise", "mel", "audio_in") if k in want)
            assert got[key].shape[0] == want[key].shape[0] + 1, (name, new["file"])
    sliced = json.loads((rebatched / "train_objective" / "cases.json").read_text(encoding="utf-8"))["cases"][-1]
    assert sliced["batch"] == 1 and sliced["file"].startswith("slice_")


def test_golden_tests_pass_on_a_rebatched_golden_set(rebatched):
    env = {**os.environ, "LUXTTS_GOLDEN_DIR": str(rebatched), "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-rs", *SHAPE_SENSITIVE],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    tail = out.stdout[-4000:] + out.stderr[-2000:]
    assert out.returncode == 0, tail
    summary = out.stdout.strip().splitlines()[-1]
    passed = re.search(r"(\d+) passed", summary)
    # Collected and run, not skipped: a golden test that skips on another set proves nothing.
    assert passed and int(passed.group(1)) > 0, summary
    assert not re.search(r"skipped|deselected|xfail|error", summary), summary

"""Training stays out of inference: the pipeline never imports luxtts.train; the CLI imports only its parser."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _modules(code: str) -> list:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code + "; import sys, json; print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_inference_never_imports_training():
    mods = _modules("import luxtts, luxtts.pipeline")
    assert "luxtts.pipeline" in mods
    assert [m for m in mods if m.startswith("luxtts.train") or m.startswith("tensorboard")] == []


def test_the_cli_imports_only_the_training_parser():
    mods = _modules("import luxtts.cli")
    assert sorted(m for m in mods if m.startswith("luxtts.train")) == ["luxtts.train", "luxtts.train.cli"]
    assert "torch" not in mods and "tensorboard" not in mods

"""Data flows one way: text, audio -> model -> vocoder -> pipeline -> cli. Checked by import and by source."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from import_graph import imported_names

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "luxtts"

# package -> luxtts modules it must never import (directly, at any depth of its own files)
FORBIDDEN = {
    "text": ("torch", "luxtts.audio", "luxtts.model", "luxtts.vocoder", "luxtts.pipeline", "luxtts.cli"),
    "audio": ("luxtts.text", "luxtts.model", "luxtts.vocoder", "luxtts.pipeline", "luxtts.cli"),
    "model": ("luxtts.vocoder", "luxtts.pipeline", "luxtts.cli", "luxtts.hub", "luxtts.server", "luxtts.train"),
    "vocoder": ("luxtts.model", "luxtts.pipeline", "luxtts.cli", "luxtts.hub", "luxtts.server", "luxtts.train"),
}
INFERENCE_MODULES = ("pipeline", "longform", "hub", "prompt", "options", "asr", "voices", "devices")


def run_python(code: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_pipeline_pulls_in_no_cli_server_or_training_code():
    mods = run_python(
        "import sys, json, luxtts.pipeline; print(json.dumps(sorted(m for m in sys.modules if m.startswith('luxtts'))))"
    )
    assert "luxtts.pipeline" in mods
    bad = [m for m in mods if (m.split(".") + [""])[1] in ("cli", "server", "train", "convert", "info", "asr")]
    assert bad == []


def test_import_luxtts_is_cheap():
    mods = run_python("import sys, json, luxtts; print(json.dumps(sorted(sys.modules)))")
    assert "torch" not in mods
    assert not any(m.startswith(("luxtts.pipeline", "luxtts.model", "luxtts.vocoder")) for m in mods)


def test_public_names_resolve():
    names = run_python(
        "import json, luxtts; print(json.dumps({n: type(getattr(luxtts, n)).__name__ for n in luxtts.__all__}))"
    )
    assert names["LuxTTS"] == "type" and names["VoicePrompt"] == "type" and names["SynthesisOptions"] == "type"


def test_cli_module_imports_nothing_heavy():
    mods = run_python("import sys, json, luxtts.cli; print(json.dumps(sorted(sys.modules)))")
    assert "torch" not in mods


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_layers_do_not_import_upward(package):
    offenders = []
    for path in sorted((PACKAGE / package).rglob("*.py")):
        for name in imported_names(path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[package]):
                offenders.append(f"{path.relative_to(REPO)} imports {name}")
    assert offenders == []


@pytest.mark.parametrize("module", INFERENCE_MODULES)
def test_inference_modules_do_not_import_the_cli(module):
    files = sorted((PACKAGE / module).rglob("*.py")) if (PACKAGE / module).is_dir() else [PACKAGE / f"{module}.py"]
    names = set().union(*(imported_names(f) for f in files))
    assert not [n for n in names if n.startswith(("luxtts.cli", "luxtts.server", "luxtts.train"))]

"""benchmarks/gpu_check.py runs end to end in its --dry-run mode (CPU, tiny random model): the script a lent
GPU will run is exercised before that day; what it prints on a CPU is no measurement."""

from __future__ import annotations

import json
import math

from bench_script import load_benchmark


def _script():
    return load_benchmark("gpu_check")


def test_dry_run_reports_every_check(tmp_path, monkeypatch):
    monkeypatch.setenv("LUXTTS_BENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "gpu.json"
    assert _script().main(["--dry-run", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["dry_run"] is True and report["device"] == "cpu"
    assert set(report["w1"]) == {"float32", "bfloat16"}
    assert report["w1"]["float32"]["features_snr_db_vs_float32"] == math.inf
    # bfloat16 is a bounded perturbation of the same computation, not another one
    assert 20 < report["w1"]["bfloat16"]["features_snr_db_vs_float32"] < math.inf
    assert report["w2"]["chunks"] >= 2 and report["w2"]["speedup"] > 0
    assert report["cross_request"]["requests"] == 2 and report["cross_request"]["speedup"] > 0


def test_snr_db():
    import torch

    module = _script()
    x = torch.ones(100)
    assert module.snr_db(x, x) == math.inf
    assert abs(module.snr_db(x, x * 1.1) - 20.0) < 1e-4  # error 0.1 of the signal: 20 dB

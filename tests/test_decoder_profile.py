"""benchmarks/decoder_profile.py: the accounting of its report, and a run on the tiny random weights."""

from __future__ import annotations

import pytest

from bench_script import load_benchmark

profile = load_benchmark("decoder_profile")


def test_gemm_keys_name_the_epilogue():
    assert profile.gemm_key(256, 512, 1920, True, False) == (256, 512, 1920, "sw")
    assert profile.gemm_key(256, 1920, 512, False, True) == (256, 1920, 512, "res")
    assert profile.gemm_key(3, 4, 5, True, True) == (3, 4, 5, "sw+res")
    assert profile.gemm_key(3, 4, 5, False, False) == (3, 4, 5, "")


def test_the_report_divides_by_the_steps_and_names_what_is_left():
    steps = 4
    gemm = profile.Tally()
    for _ in range(2 * steps):  # two calls a step, 10 ms each
        gemm.add(0.010, profile.gemm_ops(100, 200, 300))
    attention = profile.Tally()
    for _ in range(steps):
        attention.add(0.005)
    text = profile.report(667, 0.050, {(100, 200, 300, "sw"): gemm}, {"attend_bf16": attention}, steps, top=5)
    assert "step 50.0 ms" in text
    assert "int8 GEMMs: 20.0 ms a step (40% of the step), 2 calls" in text
    assert f"{2 * 100 * 200 * 300 / 0.010 / 1e9:.0f} GOPS" in text
    assert "attend_bf16: 5.00 ms a step, 1 calls" in text
    assert "the rest (torch ops, Python): 25.0 ms (50%)" in text


def test_a_run_on_tiny_weights_reports_each_frame_count(capsys):
    assert profile.main(["--size", "tiny", "--frames", "12,30", "--repeat", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "frames 12: step" in out and "frames 30: step" in out
    assert out.count("the rest (torch ops, Python)") == 2


@pytest.mark.parametrize("argv", [["--frames", "a,b"], ["--frames", "0"], ["--repeat", "0"]])
def test_bad_arguments_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        profile.main(argv)
    assert stop.value.code == 2
    assert "--" in capsys.readouterr().err

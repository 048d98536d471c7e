"""``luxtts eval`` end to end: the golden model on a 2-item list, resuming, --audio on the ARCTIC recordings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import soundfile as sf

from conftest import GOLDEN_DIR
from golden_model import pipeline_cases, prompt_wav
from luxtts.cli import EXIT_OK, EXIT_USAGE, main
from luxtts.eval.metrics import error_counts

ARCTIC_TEXT = pipeline_cases()[0]["prompt_text"]
OUTPUTS = ("items.jsonl", "run.json", "summary.json", "summary.md", "wer_sim.png", "rtf.png")


def journal(out: Path) -> list:
    return [json.loads(line) for line in (out / "items.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def listdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("list")
    (root / "wavs").mkdir()
    shutil.copyfile(prompt_wav(), root / "wavs" / "arctic.wav")
    # a2 has no prompt transcript: eval asks the ASR backend for it.
    (root / "two.lst").write_text(
        f"a1|{ARCTIC_TEXT}|wavs/arctic.wav|Hello there, it is 3 pm.\n"
        "a2||wavs/arctic.wav|Short one.\n", encoding="utf-8")
    return root


def eval_args(folder, lst, out, *extra):
    return ["eval", "--model", str(folder), "--list", str(lst), "-o", str(out), "--device", "cpu",
            "--asr", "pocketsphinx", "--no-progress", *extra]


def test_eval_two_variants_writes_every_file_and_resumes(folder, listdir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(eval_args(folder, listdir / "two.lst", out, "--variants", "fp32,int8")) == EXIT_OK
    printed = capsys.readouterr().out
    assert "| config | items | failed | WER % |" in printed and "| int8 | 2 | 0 |" in printed
    for name in OUTPUTS:
        assert (out / name).is_file(), name
    for name in ("wer_sim.png", "rtf.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    records = journal(out)
    assert sorted((r["config"], r["id"]) for r in records) == [("fp32", "a1"), ("fp32", "a2"), ("int8", "a1"),
                                                               ("int8", "a2")]
    for r in records:
        assert r["error"] is None
        assert 0 <= r["wer"] and -1 <= r["sim"] <= 1 and r["rtf"] > 0 and r["seconds"] > 0
        data, rate = sf.read(r["wav"])
        assert rate == 48000 and len(data) / rate == pytest.approx(r["audio_seconds"], abs=1e-3)
        assert Path(r["wav"]) == out / "audio" / r["config"] / f"{r['id']}.wav"
    by_asr = [r["prompt_text_by_asr"] for r in records if r["id"] == "a2"]
    assert all(error_counts(ARCTIC_TEXT, t).wer <= 0.10 for t in by_asr)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert [c["config"] for c in summary["configs"]] == ["fp32", "int8"]
    assert summary["asr"] == "pocketsphinx (en-us)" and summary["failed"] == []
    assert all(c["items"] == 2 and c["rtf"] > 0 and c["wer"] is not None for c in summary["configs"])

    # Done items are skipped; a new, broken item is reported in the outputs without stopping the run.
    assert main(eval_args(folder, listdir / "two.lst", out, "--variants", "fp32,int8")) == EXIT_OK
    assert len(journal(out)) == 4
    three = listdir / "three.lst"
    three.write_text((listdir / "two.lst").read_text(encoding="utf-8") + "bad|x|wavs/missing.wav|Nothing.\n",
                     encoding="utf-8")
    assert main(eval_args(folder, three, out, "--variants", "fp32,int8")) == EXIT_OK
    assert "2 item(s) failed" in capsys.readouterr().err
    new = journal(out)[4:]
    assert [(r["config"], r["id"]) for r in new] == [("fp32", "bad"), ("int8", "bad")]
    assert all("AudioFileNotFoundError" in r["error"] for r in new)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert len(summary["failed"]) == 2 and all(c["failed"] == 1 for c in summary["configs"])
    assert "Failed items:" in (out / "summary.md").read_text(encoding="utf-8")

    # Results made with other settings are not mixed in.
    assert main(eval_args(folder, listdir / "two.lst", out, "--seed", "1")) == EXIT_USAGE
    assert "other settings" in capsys.readouterr().err


def test_audio_mode_gives_the_arctic_wer(listdir, tmp_path, capsys):
    audio = tmp_path / "system"
    audio.mkdir()
    lines = []
    for name, path in (("arctic_features", GOLDEN_DIR / "features" / "prompt.wav"),
                       ("arctic_pipeline", GOLDEN_DIR / "pipeline" / "prompt.wav")):
        shutil.copyfile(path, audio / f"{name}.wav")
        lines.append(f"{name}|{ARCTIC_TEXT}|{path}|{ARCTIC_TEXT}")
    lst = tmp_path / "arctic.lst"
    lst.write_text("\n".join(lines + [f"gone|{ARCTIC_TEXT}|{prompt_wav()}|Not there."]) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    rc = main(["eval", "--audio", str(audio), "--list", str(lst), "-o", str(out), "--asr", "pocketsphinx",
               "--no-progress"])
    assert rc == EXIT_OK
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    (row,) = summary["configs"]
    print(f"ARCTIC --audio: WER {row['wer']:.3f}, CER {row['cer']:.3f}, SIM {row['sim']:.3f}, "
          f"{row['seconds_per_item']:.2f} s/item")
    assert row["config"] == "audio" and row["items"] == 3 and row["failed"] == 1
    assert row["wer"] <= 0.10 and row["rtf"] is None
    assert row["sim"] == pytest.approx(1.0, abs=1e-4)  # each file is its own prompt
    assert summary["failed"][0]["id"] == "gone"
    assert (out / "wer_sim.png").is_file() and not (out / "rtf.png").exists()
    assert "| audio | 3 | 1 |" in (out / "summary.md").read_text(encoding="utf-8")

    # A rerun tries only the failed item again; an item whose target text changed is scored again.
    edited = lst.read_text(encoding="utf-8").replace(f"{ARCTIC_TEXT}\narctic_pipeline", "And so on.\narctic_pipeline")
    lst.write_text(edited, encoding="utf-8")
    assert main(["eval", "--audio", str(audio), "--list", str(lst), "-o", str(out), "--asr", "pocketsphinx",
                 "--no-progress"]) == EXIT_OK
    assert [(r["id"], r["target_text"]) for r in journal(out)[3:]] == [("arctic_features", "And so on."),
                                                                       ("gone", "Not there.")]


@pytest.mark.parametrize("extra, message", [
    (["--variants", "fp32,int4"], "unknown 'int4'; accepted: fp32, int8, bf16, fp16"),
    (["--steps", "4,x"], "--steps must be comma-separated integers"),
    (["--steps", "0"], "--steps must be integers >= 1"),
    (["--threads", "0"], "--threads must be >= 1"),
])
def test_bad_options_are_usage_errors(folder, listdir, tmp_path, capsys, extra, message):
    assert main(eval_args(folder, listdir / "two.lst", tmp_path / "o", *extra)) == EXIT_USAGE
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o" / "items.jsonl").exists()


def test_audio_mode_refuses_synthesis_options(listdir, tmp_path, capsys):
    rc = main(["eval", "--audio", str(tmp_path), "--list", str(listdir / "two.lst"), "-o", str(tmp_path / "o"),
               "--variants", "int8"])
    assert rc == EXIT_USAGE and "--audio scores existing files" in capsys.readouterr().err


def test_bad_list_is_a_usage_error(tmp_path, capsys):
    lst = tmp_path / "l.txt"
    lst.write_text("a|b|c\n", encoding="utf-8")
    assert main(["eval", "--audio", str(tmp_path), "--list", str(lst), "-o", str(tmp_path / "o")]) == EXIT_USAGE
    assert "line 1: expected 4 fields" in capsys.readouterr().err

"""`luxtts train prepare`: inference's own features, token strings, shards + index, bad rows reported."""

import json

import pytest
import torch

from conftest import GOLDEN_DIR
from luxtts.audio.features import prompt_features
from luxtts.audio.io import load_audio
from luxtts.errors import InvalidOptionError
from luxtts.text import EmiliaTokenizer
from luxtts.train.data import DatasetError, PreparedSet, PrepareOptions, prepare, read_rows
from train_data import arctic, make_clips

TOKENS = GOLDEN_DIR / "model_distill" / "tokens.txt"


def test_prepare_round_trips_the_inference_front_end_and_reports_bad_rows(tmp_path):
    manifest = make_clips(tmp_path / "raw", 5, bad=True)
    report = prepare(manifest, tmp_path / "prep", PrepareOptions(tokens=str(TOKENS), valid_count=1, progress=False,
                                                                 shard_utterances=2))
    assert report.kept == 5 and report.valid == 1
    reasons = {row["audio"].rsplit("/", 1)[-1]: row["reason"] for row in report.skipped}
    assert set(reasons) == {"missing.wav", "clip00.wav", "corrupt.wav", "tiny.wav"}
    assert "not found" in reasons["missing.wav"] and "empty" in reasons["clip00.wav"]
    assert "unreadable" in reasons["corrupt.wav"] and "duration" in reasons["tiny.wav"]
    on_disk = json.loads((tmp_path / "prep" / "report.json").read_text())
    assert len(on_disk["skipped"]) == 4
    assert len(list((tmp_path / "prep").glob("shard-*.safetensors"))) == 3

    data = PreparedSet(tmp_path / "prep")
    rows = [json.loads(line) for line in manifest.read_text().splitlines()][:5]
    tokenizer = EmiliaTokenizer(TOKENS)
    for i, row in enumerate(rows):
        want = prompt_features(load_audio(str(tmp_path / "raw" / row["audio"]), 24000).samples)
        got = data.features(i)
        assert torch.equal(got, want)  # bit for bit: one code path
        assert data.utterances[i].frames == want.shape[0]
        assert list(data.utterances[i].tokens) == tokenizer.text_to_tokens(row["text"])
    assert len(data.split("valid")) == 1 and len(data.split("train")) == 4


def test_folder_and_ljspeech_sources(tmp_path):
    import soundfile as sf

    wav, sr = arctic()
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    sf.write(str(pairs / "a.wav"), wav[: sr], sr)
    (pairs / "a.txt").write_text("And you always want", encoding="utf-8")
    sf.write(str(pairs / "b.wav"), wav[sr: 3 * sr], sr)  # no transcript: a bad row
    lj = tmp_path / "lj"
    (lj / "wavs").mkdir(parents=True)
    sf.write(str(lj / "wavs" / "LJ001.wav"), wav[: 2 * sr], sr)
    (lj / "metadata.csv").write_text("LJ001|raw text|And you always want to see\n", encoding="utf-8")

    assert [r.id for r in read_rows(pairs)] == ["a", "b"]
    report = prepare(pairs, tmp_path / "p1", PrepareOptions(progress=False))
    assert report.kept == 1 and report.skipped[0]["reason"] == "empty transcript"
    report = prepare(lj, tmp_path / "p2", PrepareOptions(progress=False))
    assert report.kept == 1
    assert PreparedSet(tmp_path / "p2").utterances[0].id == "LJ001"


def test_prepare_refuses_to_overwrite_and_fails_clearly_when_nothing_is_usable(tmp_path):
    manifest = make_clips(tmp_path / "raw", 2)
    prepare(manifest, tmp_path / "prep", PrepareOptions(progress=False))
    with pytest.raises(InvalidOptionError, match="exists"):
        prepare(manifest, tmp_path / "prep", PrepareOptions(progress=False))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"audio": "nope.wav", "text": "x"}\nnot json\n', encoding="utf-8")
    with pytest.raises(DatasetError, match="no usable rows"):
        prepare(bad, tmp_path / "prep2", PrepareOptions(progress=False))
    assert not (tmp_path / "prep2").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no half-written folder left


def test_other_language_uses_espeak_phonemes(tmp_path):
    manifest = make_clips(tmp_path / "raw", 1)
    manifest.write_text(json.dumps({"audio": "clip00.wav", "text": "Guten Morgen, schöne Grüße"}) + "\n")
    report = prepare(manifest, tmp_path / "prep", PrepareOptions(lang="de", tokens=str(TOKENS), progress=False))
    assert report.kept == 1
    tokens = PreparedSet(tmp_path / "prep").utterances[0].tokens
    assert "ø" in tokens and "y" in tokens  # espeak-ng German, character by character as piper-phonemize gives
    assert set(report.unknown_tokens) == {"ø", "y"}  # German phonemes the small English model does not know

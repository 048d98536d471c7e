"""load_vocab: the tokens.txt format and clear errors for malformed files."""

import pytest

from conftest import GOLDEN_DIR
from luxtts.errors import ConfigError, ModelNotFoundError
from luxtts.text import load_vocab


def _write(tmp_path, content: str):
    path = tmp_path / "tokens.txt"
    path.write_bytes(content.encode("utf-8"))
    return path


def test_golden_vocab():
    path = GOLDEN_DIR / "tokenizer" / "tokens.txt"
    vocab = load_vocab(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(vocab) == len(lines)
    assert vocab["_"] == 0
    # The space token is a line that starts with a space.
    assert " " in vocab
    assert sorted(vocab.values()) == list(range(len(lines)))


def test_space_token_crlf_and_trailing_newlines(tmp_path):
    assert load_vocab(_write(tmp_path, "_\t0\r\n \t1\r\na\t2\r\n\n")) == {"_": 0, " ": 1, "a": 2}


@pytest.mark.parametrize(
    "content, words",
    [
        ("_\t0\na 1\n", ["line 2", "token<TAB>id"]),
        ("_\t0\na\tx\n", ["line 2", "'x'"]),
        ("_\t0\na\t-1\n", ["line 2", "'-1'"]),
        ("_\t0\na\t1\na\t2\n", ["line 3", "'a'", "twice"]),
        ("_\t0\na\t1\nb\t1\n", ["line 3", "id 1"]),
        ("_\t0\na\t5\n", ["0..1", "5"]),
        ("a\t0\nb\t1\n", ["'_'"]),
        ("_\t0\n\na\t1\n", ["line 2"]),
        ("", ["no tokens"]),
    ],
)
def test_malformed_files(tmp_path, content, words):
    with pytest.raises(ConfigError) as info:
        load_vocab(_write(tmp_path, content))
    message = str(info.value)
    assert "tokens.txt" in message
    for word in words:
        assert word in message


def test_not_utf8(tmp_path):
    path = tmp_path / "tokens.txt"
    path.write_bytes(b"_\t0\n\xff\t1\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_vocab(path)


def test_missing_file(tmp_path):
    with pytest.raises(ModelNotFoundError, match="nope.txt"):
        load_vocab(tmp_path / "nope.txt")

import json
import os
from pathlib import Path

# The golden log-mels were made where MKL ran its AVX FFT kernels. On an AVX-512 Intel host MKL picks other
# kernels whose float32 rounding moves near-silent mel bins (e.g. 8-12 kHz of a 16 kHz prompt, log values
# around -11) by up to 0.6, with upstream's code as with ours (2026-11-30, Xeon: 8 golden feature checks off,
# all within 1e-6 with this set). MKL reads it once, at its first call, so it is set before anything runs.
os.environ.setdefault("MKL_CBWR", "AVX")
# The native kernel (luxtts.runtime.native) is built once per test session in a private folder of its own, not in
# the user's cache; subprocesses inherit the folder and reuse the build.
if not os.environ.get("LUXTTS_KERNEL_DIR"):
    import tempfile

    os.environ["LUXTTS_KERNEL_DIR"] = tempfile.mkdtemp(prefix="luxtts-kernels-")

import pytest  # noqa: E402

GOLDEN_DIR = Path(os.environ.get("LUXTTS_GOLDEN_DIR", Path(__file__).resolve().parents[1] / ".." / "shared" / "golden")).resolve()


def golden_cases(subdir: str):
    """pytest params for every case listed in GOLDEN_DIR/subdir/cases.json; a missing folder is an error."""
    path = GOLDEN_DIR / subdir / "cases.json"
    if not path.is_file():
        raise FileNotFoundError(f"golden cases not found: {path} (set LUXTTS_GOLDEN_DIR)")
    spec = json.loads(path.read_text(encoding="utf-8"))
    return [pytest.param(case, id=str(case.get("file", case.get("text", i)))[:40]) for i, case in enumerate(spec["cases"])]


def golden_spec(subdir: str) -> dict:
    return json.loads((GOLDEN_DIR / subdir / "cases.json").read_text(encoding="utf-8"))


def load_golden(subdir: str, filename: str):
    from safetensors.torch import load_file

    return load_file(str(GOLDEN_DIR / subdir / filename))


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    if not GOLDEN_DIR.is_dir():
        pytest.fail(f"golden folder not found: {GOLDEN_DIR} (set LUXTTS_GOLDEN_DIR)")
    return GOLDEN_DIR


# The golden LuxTTS model folder, loaded once per test module that asks for it (golden_model.py builds it).
@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from golden_model import build_luxtts_folder

    return build_luxtts_folder(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def model(folder):
    """The golden LuxTTS model folder, by the name the CLI tests use."""
    return folder


@pytest.fixture(scope="module")
def tts(folder):
    from luxtts import LuxTTS

    return LuxTTS.from_pretrained(folder, device="cpu")


@pytest.fixture(scope="module")
def prompt(tts):
    from golden_model import pipeline_cases, prompt_wav

    return tts.encode_prompt(str(prompt_wav()), text=pipeline_cases()[0]["prompt_text"])


# A real PostgreSQL 15 server for the whole session (tests/pg_server.py), and a fresh database per test.
@pytest.fixture(scope="session")
def postgres_server():
    from pg_server import PostgresServer

    server = PostgresServer.start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    return postgres_server.create_database()


@pytest.fixture
def isolated_home(tmp_path, monkeypatch):
    """A fresh $LUXTTS_HOME (voice library) and no $LUXTTS_MODEL, as on a new machine."""
    monkeypatch.setenv("LUXTTS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LUXTTS_MODEL", raising=False)

"""luxtts.process_env: the oneDNN / ideep cache capacities and libgomp's spin count that ``import luxtts`` sets,
and that they bound memory where torch's defaults let it grow with every new input length."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from luxtts import process_env
from luxtts.process_env import OWN_VALUE_VAR, PRIMITIVE_CACHE_VARS, apply_defaults, prefer_primitive_cache

REPO = Path(__file__).resolve().parents[1]
ONEDNN, DNNL = PRIMITIVE_CACHE_VARS


def test_defaults_fill_what_the_user_left_unset():
    env = {}
    apply_defaults(env)
    assert env[ONEDNN] == str(process_env.DEFAULT_PRIMITIVE_CACHE) == env[OWN_VALUE_VAR]
    assert env[process_env.IDEEP_CACHE_VAR] == str(process_env.IDEEP_CACHE)
    assert env[process_env.SPIN_COUNT_VAR] == str(process_env.SPIN_COUNT)


@pytest.mark.parametrize("name", PRIMITIVE_CACHE_VARS)
def test_a_capacity_the_user_set_is_kept_under_either_name(name):
    env = {name: "512", process_env.IDEEP_CACHE_VAR: "1024", process_env.SPIN_COUNT_VAR: "0"}
    apply_defaults(env)
    assert env == {name: "512", process_env.IDEEP_CACHE_VAR: "1024", process_env.SPIN_COUNT_VAR: "0"}
    assert prefer_primitive_cache(16, env) is False
    assert env[name] == "512" and OWN_VALUE_VAR not in env


def test_an_int8_model_lowers_only_luxtts_own_capacity():
    env = {}
    apply_defaults(env)
    assert prefer_primitive_cache(16, env) is True
    assert env[ONEDNN] == "16" == env[OWN_VALUE_VAR]
    assert prefer_primitive_cache(16, env) is False  # already so
    # the user changed it after import: theirs now
    env[ONEDNN] = "64"
    assert prefer_primitive_cache(16, env) is False and env[ONEDNN] == "64"
    # a user's DNNL_ name beside luxtts's ONEDNN_ one: oneDNN would read ours first, so ours is not touched
    env = {}
    apply_defaults(env)
    env[DNNL] = "256"
    assert prefer_primitive_cache(16, env) is False and env[ONEDNN] == "128"


def test_a_child_process_starts_from_the_default_again():
    """An int8 parent's lowered capacity, inherited, is luxtts's own: the child's models start from the default."""
    parent = {}
    apply_defaults(parent)
    prefer_primitive_cache(16, parent)
    child = dict(parent)
    apply_defaults(child)
    assert child[ONEDNN] == "128" == child[OWN_VALUE_VAR]
    assert process_env.primitive_cache_lowered(parent) == 16
    assert process_env.primitive_cache_lowered(child) is None
    assert process_env.primitive_cache_lowered({ONEDNN: "8"}) is None  # the user's own choice: not ours to report


def test_a_float_model_after_a_lowered_cache_says_so(folder, monkeypatch, caplog):
    from luxtts import LuxTTS

    # luxtts's own default in this process's environment (restored afterwards; oneDNN read its capacity long ago)
    monkeypatch.delenv(DNNL, raising=False)
    monkeypatch.setenv(ONEDNN, "128")
    monkeypatch.setenv(OWN_VALUE_VAR, "128")
    with caplog.at_level("WARNING", logger="luxtts"):
        LuxTTS.from_pretrained(folder, device="cpu")
        assert not [r for r in caplog.records if "primitive cache" in r.getMessage()]
        prefer_primitive_cache(16)
        LuxTTS.from_pretrained(folder, device="cpu")
    said = [r.getMessage() for r in caplog.records if "primitive cache" in r.getMessage()]
    assert len(said) == 1 and "holds 16 primitives" in said[0] and "ONEDNN_PRIMITIVE_CACHE_CAPACITY=128" in said[0]


def test_loading_an_int8_model_asks_for_the_small_cache(folder, monkeypatch):
    from luxtts import LuxTTS

    asked = []
    monkeypatch.setattr(process_env, "prefer_primitive_cache", lambda capacity: asked.append(capacity))
    LuxTTS.from_pretrained(folder, device="cpu")
    assert asked == []
    LuxTTS.from_pretrained(folder, device="cpu", quantize="int8")
    assert asked == [process_env.INT8_PRIMITIVE_CACHE]


# Transposed convolutions (the vocoder's upsampler) at many lengths, in a fresh process: the heap in use after each
# length, trimmed. Every length is a new oneDNN primitive and a new ideep entry, 0.2-0.25 MB together (2026-12-08).
GROWTH_SCRIPT = r"""
import ctypes, json, sys
import luxtts
import torch
import torch.nn.functional as F

libc = ctypes.CDLL("libc.so.6")
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc.mallinfo2.restype = Info
torch.set_num_threads(1)
weight = torch.randn(64, 32, 8)
used = []
with torch.inference_mode():
    for n in range(200, 200 + 7 * int(sys.argv[1]), 7):
        F.conv_transpose1d(torch.randn(1, 64, n), weight, stride=2, padding=3)
        libc.malloc_trim(0)
        used.append(libc.mallinfo2().uordblks)
print(json.dumps({"used": used, "mkldnn": torch.backends.mkldnn.is_available()}))
"""
LENGTHS = 300
FULL_AFTER = 150  # lengths by which luxtts's caches (128 oneDNN primitives, 8 ideep entries) are full


def heap_growth(extra_env: dict) -> float:
    env = {k: v for k, v in os.environ.items() if k not in (*PRIMITIVE_CACHE_VARS, OWN_VALUE_VAR,
                                                               process_env.IDEEP_CACHE_VAR)}
    env.update(extra_env, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", GROWTH_SCRIPT, str(LENGTHS)], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["mkldnn"], "this torch has no oneDNN: the caches under test are not there"
    used = result["used"]
    # once luxtts's caches are full, what still grows is what a cache without a useful bound keeps
    return (used[-1] - used[FULL_AFTER]) / 2**20


def test_memory_stays_bounded_across_input_lengths():
    bounded = heap_growth({})
    # Control: torch's own defaults (1024 of each) in the same measurement grow with every length, so the check
    # above can fail; 150 more lengths grew 34 MB at 1024 against 1.0 MB at luxtts's (2026-12-08).
    unbounded = heap_growth({ONEDNN: "1024", process_env.IDEEP_CACHE_VAR: "1024"})
    assert unbounded > 3.0, unbounded
    assert bounded < 0.2 * unbounded, (bounded, unbounded)

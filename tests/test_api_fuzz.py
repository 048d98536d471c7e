"""Arbitrary values for every argument of the public API: whatever is raised is a LuxTTSError with a short message.

Each example replaces one to three arguments of a valid call by arbitrary values (numbers of every kind, strings,
bytes, containers, arrays, tensors, objects); the rest stay valid, so that each argument's own check is reached.
Valid draws generate real audio on the tiny golden model, kept short ("Hi.").
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from golden_model import pipeline_cases, prompt_wav
from luxtts import LuxTTSError, SynthesisOptions, Tokens, VoicePrompt

TEXT = "Hi."
MAX_MESSAGE = 300
FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

FLOATS = st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 0.0, 1e-300, 0.5, 1.0, 2.5, 24000.0, 1e300])
INTS = st.integers(-3, 6) | st.sampled_from([2**63, -(2**63), 10**12, 16000, 48000])


class Opaque:
    """An object with nothing a caller could mean by it, whose repr is long."""

    def __repr__(self) -> str:
        return "Opaque(" + "x" * 5000 + ")"


ANY = st.one_of(
    st.none(), st.booleans(), INTS, FLOATS,
    st.text(max_size=12), st.text(min_size=300, max_size=400), st.binary(max_size=16),
    st.lists(INTS, max_size=4), st.tuples(FLOATS, INTS), st.dictionaries(st.text(max_size=6), INTS, max_size=3),
    st.sampled_from([np.int64(3), np.float32(0.5), np.float64(math.nan), np.bool_(True), np.zeros((2, 3)),
                     np.array([1, 2, 3], dtype=np.int64), torch.zeros(3), torch.zeros(1, 5, 100), torch.tensor(2.0),
                     1 + 2j, Opaque(), object(), print, "/", "/nonexistent/x.wav", "\x00", Tokens([1, 2]),
                     SynthesisOptions(num_steps=1)]),
)


def check(call) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = call()
            if hasattr(result, "__next__"):
                for _ in result:
                    pass
    except LuxTTSError as e:
        assert len(str(e)) <= MAX_MESSAGE, f"{type(e).__name__} of {len(str(e))} characters: {str(e)[:200]}"
    # Anything else propagates and fails the test with its own traceback.


VALID = object()  # stands for the fixture's prompt, which a module-level dict cannot hold


def mutate(valid: dict, data, prompt=None) -> dict:
    names = data.draw(st.sets(st.sampled_from(sorted(valid)), min_size=1, max_size=3), label="arguments")
    args = {k: (prompt if v is VALID else v) for k, v in valid.items()}
    for name in sorted(names):
        args[name] = data.draw(ANY, label=name)
    return args


@pytest.fixture(scope="module")
def wav_path():
    return str(prompt_wav())


GENERATE_ARGS = dict(text=TEXT, prompt=VALID, options=None, num_steps=2, guidance_scale=3.0, t_shift=0.5, speed=1.0,
                     seed=0, noise=None, smooth=False, sample_rate=None, chunk_tokens=100, batch_frames=None,
                     crossfade_ms=50.0, trim_joins=True, progress=None)


@FUZZ
@given(data=st.data())
def test_generate_and_stream_raise_only_luxtts_errors(tts, prompt, data):
    args = mutate(GENERATE_ARGS, data, prompt)
    method = data.draw(st.sampled_from(["generate", "stream"]), label="method")
    text, voice = args.pop("text"), args.pop("prompt")
    check(lambda: getattr(tts, method)(text, voice, **args))


SPEECH_ARGS = dict(text=TEXT, prompt=VALID, num_steps=2, guidance_scale=None, t_shift=None, speed=1.0,
                   return_smooth=False, seed=0, noise=None)


@FUZZ
@given(data=st.data())
def test_generate_speech_raises_only_luxtts_errors(tts, prompt, data):
    args = mutate(SPEECH_ARGS, data, prompt)
    text, voice = args.pop("text"), args.pop("prompt")
    check(lambda: tts.generate_speech(text, voice, **args))


@FUZZ
@given(data=st.data())
def test_encode_prompt_raises_only_luxtts_errors(tts, wav_path, data):
    args = mutate(dict(audio=wav_path, duration=5, rms=0.01, text=pipeline_cases()[0]["prompt_text"]), data)
    if args["text"] is None:
        args["text"] = "hi"  # None means speech recognition, which is not what this test exercises
    check(lambda: tts.encode_prompt(**args))


@FUZZ
@given(data=st.data())
def test_options_raise_only_luxtts_errors(data):
    args = mutate(dict(num_steps=None, guidance_scale=None, t_shift=None, speed=None, seed=None), data)
    check(lambda: SynthesisOptions(**args))
    check(lambda: SynthesisOptions.coerce(data.draw(ANY, label="options")))


@FUZZ
@given(data=st.data())
def test_voice_prompt_construct_save_load_raise_only_luxtts_errors(prompt, tmp_path_factory, data):
    fields = dict(features=prompt.features, tokens=prompt.tokens, rms=prompt.rms, transcript="hi", source="x.wav",
                  sample_rate=24000, duration=1.0, cropped=False, target_rms=0.01, vocab_sha256=None, extra={})
    check(lambda: repr(VoicePrompt(**mutate(fields, data))))
    target = data.draw(ANY, label="path")
    folder = tmp_path_factory.mktemp("fuzz")
    check(lambda: prompt.save(folder / target if isinstance(target, str) and target else target))
    check(lambda: VoicePrompt.load(target))

"""The voice-agent frameworks people point at an OpenAI-compatible server, each with its default settings other
than base_url and api_key, against a live server on the golden model: pipecat's OpenAITTSService in a pipeline,
livekit's OpenAI TTS plugin through synthesize() and through the stream adapter its agents use."""

import asyncio

import numpy as np
import pytest
from golden_model import pipeline_cases, prompt_wav
from server_live import free_port, live_server

from luxtts.server.settings import ServerSettings

TRANSCRIPT = pipeline_cases()[0]["prompt_text"]
TEXT = "Hello there, my friend. How are you today?"


@pytest.fixture(scope="module")
def server(folder, tts, prompt, tmp_path_factory):
    """Two voices and no default voice: OpenAI's names mean nothing until an alias says which voice they are."""
    from luxtts.voices import open_store

    db = tmp_path_factory.mktemp("voices") / "voices.db"
    with open_store(str(db)) as store:
        for name, voice in (("arctic", prompt), ("other", tts.encode_prompt(str(prompt_wav()), text="Other words."))):
            store.create(name, voice, audio=prompt_wav().read_bytes(), audio_filename=f"{name}.wav",
                         transcript=voice.transcript)
        store.set_alias("alloy", "arctic")  # as `luxtts voice alias alloy arctic` does
    settings = ServerSettings(model=str(folder), device="cpu", port=free_port(), voices_db=str(db))
    with live_server(settings, tts) as url:
        yield url


@pytest.fixture(scope="module")
def ash(server):
    """livekit's default voice, made an alias over HTTP (the server refused it before)."""
    import httpx

    speech = {"model": "tts-1", "voice": "ash", "input": TEXT}
    assert httpx.post(server + "/v1/audio/speech", json=speech, timeout=60).status_code == 400
    response = httpx.put(server + "/v1/audio/voice_aliases/ash", json={"voice": "arctic"}, timeout=60)
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def expected_samples(tts, prompt):
    """How long the server's answer to TEXT is, give or take the noise's effect on the silence trimmed at joins."""
    return tts.generate(TEXT, prompt, sample_rate=24000, chunk_policy="first_clause").audio.shape[0]


def _close_to(samples: int, expected: int, slack: float = 0.15) -> bool:
    # mp3 (livekit's default format) adds encoder delay and frame padding at the edges
    return abs(samples - expected) <= slack * expected


def test_pipecat_openai_tts_service_in_a_pipeline(server, expected_samples):
    from pipecat.frames.frames import EndFrame, ErrorFrame, TTSAudioRawFrame, TTSSpeakFrame
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.runner import PipelineRunner
    from pipecat.pipeline.task import PipelineTask
    from pipecat.processors.frame_processor import FrameProcessor
    from pipecat.services.openai.tts import OpenAITTSService

    class Collect(FrameProcessor):
        def __init__(self) -> None:
            super().__init__()
            self.frames = []

        async def process_frame(self, frame, direction):
            await super().process_frame(frame, direction)
            self.frames.append(frame)
            await self.push_frame(frame, direction)

    async def run():
        sink = Collect()
        task = PipelineTask(Pipeline([OpenAITTSService(base_url=server + "/v1", api_key="unused"), sink]))
        await task.queue_frames([TTSSpeakFrame(TEXT), EndFrame()])
        await asyncio.wait_for(PipelineRunner(handle_sigint=False).run(task), 120)
        return sink.frames

    frames = asyncio.run(run())
    assert not [f for f in frames if isinstance(f, ErrorFrame)]
    audio = [f for f in frames if isinstance(f, TTSAudioRawFrame)]
    assert len(audio) >= 2
    assert {(f.sample_rate, f.num_channels) for f in audio} == {(24000, 1)}
    samples = np.frombuffer(b"".join(f.audio for f in audio), dtype="<i2")
    assert samples.size == expected_samples  # pcm: exactly what the model made
    assert np.abs(samples).max() > 300  # not silence


def _livekit_frames(server: str, streamed: bool):
    from livekit.agents import tts as lk_tts
    from livekit.plugins import openai as lk_openai

    async def run():
        tts = lk_openai.TTS(base_url=server + "/v1", api_key="unused")
        frames = []
        try:
            if not streamed:
                async with tts.synthesize(TEXT) as stream:
                    frames += [event.frame async for event in stream]
            else:
                # what an AgentSession does with a TTS that does not stream text in: a sentence at a time
                adapter = lk_tts.StreamAdapter(tts=tts)
                stream = adapter.stream()
                for word in TEXT.split(" "):
                    stream.push_text(word + " ")
                stream.end_input()
                frames += [event.frame async for event in stream]
                await stream.aclose()
        finally:
            await tts.aclose()
        return frames

    return asyncio.run(asyncio.wait_for(run(), 120))


@pytest.mark.parametrize("streamed", [False, True], ids=["synthesize", "stream_adapter"])
def test_livekit_openai_tts_with_its_default_voice(server, ash, expected_samples, streamed):
    frames = _livekit_frames(server, streamed)
    assert len(frames) >= 2
    assert {(f.sample_rate, f.num_channels) for f in frames} == {(24000, 1)}
    samples = np.concatenate([np.frombuffer(bytes(f.data), dtype="<i2") for f in frames])
    assert _close_to(samples.size, expected_samples, 0.25 if streamed else 0.15)
    assert np.abs(samples).max() > 300

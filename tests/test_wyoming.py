"""``luxtts wyoming`` against the wyoming library's own client, on a live server with the golden model."""

import asyncio
import threading

import pytest

import wyoming  # noqa: F401 - the [wyoming] extra, in dev: a missing one fails here
from golden_model import pipeline_cases, prompt_wav  # noqa: E402
from wyoming.audio import AudioChunk, AudioStart  # noqa: E402
from wyoming.event import Event, async_read_event  # noqa: E402
from wyoming.info import Describe, Info  # noqa: E402
from wyoming.ping import Ping  # noqa: E402
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice  # noqa: E402
from wyoming_live import exchange, live_wyoming, read_until  # noqa: E402

from luxtts.server.settings import ServerSettings  # noqa: E402
from luxtts.wyoming.server import open_service  # noqa: E402
from luxtts.wyoming.service import WyomingOptions  # noqa: E402

TRANSCRIPT = pipeline_cases()[0]["prompt_text"]
FIRST = "Good morning, and welcome to the station."
LONG = FIRST + " The next train to the city leaves from platform two in ten minutes."


@pytest.fixture(scope="module")
def library(tmp_path_factory, prompt):
    from luxtts.voices import open_store

    db = tmp_path_factory.mktemp("voices") / "voices.db"
    with open_store(str(db)) as store:
        store.create("arctic", prompt, audio=prompt_wav().read_bytes(), audio_filename="arctic.wav",
                     transcript=TRANSCRIPT)
        store.set_alias("narrator", "arctic")
    return db


@pytest.fixture(scope="module")
def service(folder, tts, library):
    settings = ServerSettings(model=str(folder), device="cpu", voices_db=str(library), max_queue=4)
    service = open_service(settings, WyomingOptions(), tts=tts)
    yield service
    service.close()


@pytest.fixture(scope="module")
def uri(service):
    with live_wyoming(service) as uri:
        yield uri


@pytest.fixture(scope="module")
def expected_samples(tts, prompt):
    return tts.generate(LONG, prompt, sample_rate=24000, chunk_policy="first_clause").audio.shape[0]


def chunks_of(events):
    chunks = [AudioChunk.from_event(e) for e in events if AudioChunk.is_type(e.type)]
    assert all((c.rate, c.width, c.channels) == (24000, 2, 1) for c in chunks)
    assert all(0 < len(c.audio) <= 1024 * 2 for c in chunks)
    return chunks


def test_describe_lists_the_library_voices(uri):
    events = asyncio.run(exchange(uri, [Describe().event()]))
    info = Info.from_event(events[-1])
    program = info.tts[0]
    assert program.name == "luxtts" and program.installed and program.supports_synthesize_streaming
    assert program.attribution.name == "LuxTTS" and program.attribution.url.startswith("https://")
    assert [v.name for v in program.voices] == ["arctic"]
    assert program.voices[0].languages == ["en", "zh"]
    assert program.voices[0].attribution.name


def test_ping_answers_pong(uri):
    events = asyncio.run(exchange(uri, [Ping(text="x").event()]))
    assert [e.type for e in events] == ["pong"]


class Gate:
    """Wraps the scheduler's model call: the second call waits until the test opens the gate."""

    def __init__(self, real) -> None:
        self.real = real
        self.calls = 0
        self.reached = threading.Event()
        self.open = threading.Event()

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == 2:
            self.reached.set()
            self.open.wait(60)
        return self.real(*args, **kwargs)


def test_synthesize_sends_audio_while_the_rest_is_still_being_made(uri, monkeypatch, expected_samples):
    import luxtts.server.scheduler as scheduler

    gate = Gate(scheduler.run_batch)
    monkeypatch.setattr(scheduler, "run_batch", gate)

    async def talk():
        from wyoming.client import AsyncTcpClient

        host, port = uri.removeprefix("tcp://").split(":")
        async with AsyncTcpClient(host, int(port)) as client:
            await client.write_event(Synthesize(text=LONG, voice=SynthesizeVoice(name="arctic")).event())
            early = await read_until(client, ("audio-chunk",), timeout=60)
            # the first chunk's audio is here while the model call for the second chunk has not returned
            assert await asyncio.to_thread(gate.reached.wait, 60)
            assert gate.calls == 2
            gate.open.set()
            return early + await read_until(client, ("audio-stop",))

    events = asyncio.run(talk())
    types = [e.type for e in events]
    assert types[0] == "audio-start" and types[-1] == "audio-stop"
    assert set(types[1:-1]) == {"audio-chunk"}
    start = AudioStart.from_event(events[0])
    assert (start.rate, start.width, start.channels) == (24000, 2, 1)
    samples = sum(len(c.audio) for c in chunks_of(events)) // 2
    assert abs(samples - expected_samples) <= 0.1 * expected_samples  # noise varies the silence trimmed at joins


def test_streaming_form_speaks_each_sentence_once_it_is_complete(uri, expected_samples):
    async def talk():
        from wyoming.client import AsyncTcpClient

        host, port = uri.removeprefix("tcp://").split(":")
        async with AsyncTcpClient(host, int(port)) as client:
            await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="arctic")).event())
            await client.write_event(SynthesizeChunk(text=FIRST[:10]).event())
            await client.write_event(SynthesizeChunk(text=FIRST[10:] + " The next").event())
            # the first sentence is complete: its audio comes before the rest of the text is sent
            early = await read_until(client, ("audio-chunk",), timeout=60)
            await client.write_event(SynthesizeChunk(text=LONG[len(FIRST) + 9:]).event())
            await client.write_event(Synthesize(text=LONG, voice=SynthesizeVoice(name="arctic")).event())
            await client.write_event(SynthesizeStop().event())
            return early + await read_until(client, ("synthesize-stopped",))

    events = asyncio.run(talk())
    types = [e.type for e in events]
    assert types[0] == "audio-start" and types[-2:] == ["audio-stop", "synthesize-stopped"]
    assert set(types[1:-2]) == {"audio-chunk"}
    samples = sum(len(c.audio) for c in chunks_of(events)) // 2
    # the same text, cut at its sentence: about as long as in one go, and not spoken twice (the compatibility
    # 'synthesize' inside the stream is not spoken)
    assert 0.7 * expected_samples < samples < 1.3 * expected_samples


@pytest.mark.parametrize("voice", [None, SynthesizeVoice(name="alloy"), SynthesizeVoice(language="en"),
                                   SynthesizeVoice(name="narrator")], ids=["none", "openai", "language", "alias"])
def test_no_voice_an_openai_name_or_an_alias_reach_the_library_voice(uri, voice):
    events = asyncio.run(exchange(uri, [Synthesize(text="Hello there.", voice=voice).event()]))
    assert events[-1].type == "audio-stop" and chunks_of(events)


def test_a_bad_voice_name_answers_an_error_and_the_server_goes_on(uri):
    events = asyncio.run(exchange(uri, [Synthesize(text="Hello.", voice=SynthesizeVoice(name="nobody")).event()]))
    assert [e.type for e in events] == ["error"]
    assert events[0].data["code"] == "voice_not_found" and "'nobody'" in events[0].data["text"]
    assert asyncio.run(exchange(uri, [Describe().event()]))[-1].type == "info"


def _event(kind: str, **data) -> bytes:
    import json

    return (json.dumps({"type": kind, "data": data}) + "\n").encode()


MALFORMED = {
    "not json": b"hello\n",
    "not an object": b"[1, 2]\n",
    "no type": b'{"data": {}}\n',
    "type not a string": b'{"type": 5}\n',
    "data not an object": b'{"type": "synthesize", "data": "hi"}\n',
    "text not a string": _event("synthesize", text=3),
    "text missing": _event("synthesize"),
    "voice a string": _event("synthesize", text="Hi.", voice="arctic"),
    "voice name empty": _event("synthesize", text="Hi.", voice={"name": ""}),
    "empty text": _event("synthesize", text="   "),
    "no speakable text": _event("synthesize", text="... !!!"),
    "text too long": _event("synthesize", text="a " * 15_000),
    "chunk outside a stream": _event("synthesize-chunk", text="Hi."),
    "stop outside a stream": _event("synthesize-stop"),
    "start twice": _event("synthesize-start") + _event("synthesize-start"),
    "bad voice in a stream": _event("synthesize-start", voice={"name": "nobody"}),
    "negative data length": b'{"type": "synthesize", "data_length": -1}\n',
    "huge payload length": b'{"type": "audio-chunk", "payload_length": 1000000000}\n',
    "data is not json": b'{"type": "synthesize", "data_length": 4}\n{{{{',
    "truncated data": b'{"type": "synthesize", "data_length": 100}\n{"text"',
    "header without newline": b'{"type": "describe"',
    "header too long": b'{"type": "synthesize", "data": {"text": "' + b"a" * 100_000 + b'"}}\n',
}


@pytest.mark.parametrize("raw", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_input_answers_an_error_event_and_the_server_stays_up(uri, raw):
    async def send_raw():
        host, port = uri.removeprefix("tcp://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(raw)
        await writer.drain()
        writer.write_eof()
        first = await asyncio.wait_for(async_read_event(reader), 60)
        after = await asyncio.wait_for(async_read_event(reader), 60)
        writer.close()
        return first, after

    first, after = asyncio.run(send_raw())
    assert first is not None and first.type == "error", first
    assert first.data["text"] and first.data["code"]
    assert after is None  # and then the connection was closed
    assert asyncio.run(exchange(uri, [Describe().event()]))[-1].type == "info"


def test_a_client_that_leaves_mid_synthesis_cancels_its_job(uri, service):
    before = service.state.metrics.cancelled._value.get()

    async def leave():
        from wyoming.client import AsyncTcpClient

        host, port = uri.removeprefix("tcp://").split(":")
        async with AsyncTcpClient(host, int(port)) as client:
            await client.write_event(Synthesize(text=LONG + " " + LONG, voice=SynthesizeVoice(name="arctic")).event())
            await read_until(client, ("audio-chunk",))

    asyncio.run(leave())

    async def settled():
        for _ in range(600):
            if service.state.metrics.cancelled._value.get() > before and service.state.scheduler.admitted == 0:
                return True
            await asyncio.sleep(0.05)
        return False

    assert asyncio.run(settled())


def test_cli_refuses_a_uri_it_cannot_listen_on(capsys):
    from luxtts.cli import main

    assert main(["wyoming", "--uri", "http://127.0.0.1:10200"]) == 2
    assert "tcp://HOST:PORT" in capsys.readouterr().err


def test_an_event_with_a_payload_is_read_whole():
    """The reader takes data and payload blocks as the library writes them."""
    from wyoming.event import async_write_event

    from luxtts.wyoming.events import read_event

    async def roundtrip():
        reader = asyncio.StreamReader()

        class Sink:
            def writelines(self, parts):
                for p in parts:
                    reader.feed_data(p)

            def write(self, data):
                reader.feed_data(data)

            async def drain(self):
                pass

        await async_write_event(Event(type="audio-chunk", data={"rate": 1}, payload=b"\x01\x02"), Sink())
        reader.feed_eof()
        return await read_event(reader), await read_event(reader)

    event, end = asyncio.run(roundtrip())
    assert (event.type, event.data, event.payload, end) == ("audio-chunk", {"rate": 1}, b"\x01\x02", None)


def test_the_command_serves_and_stops_on_sigterm(folder, library, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from server_live import free_port

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "LUXTTS_HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "luxtts", "wyoming", "--model", str(folder), "--device", "cpu",
                             "--voices-db", str(library), "--uri", f"tcp://127.0.0.1:{port}"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        events = None
        while events is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                events = asyncio.run(exchange(f"tcp://127.0.0.1:{port}", [Describe().event()]))
            except OSError:
                time.sleep(0.2)
        assert events and events[-1].type == "info", proc.stderr.read() if proc.poll() is not None else ""
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_full_queue_answers_busy(folder, tts, library, monkeypatch):
    import luxtts.server.scheduler as scheduler

    gate = Gate(scheduler.run_batch)
    monkeypatch.setattr(scheduler, "run_batch", gate)
    settings = ServerSettings(model=str(folder), device="cpu", voices_db=str(library), max_queue=1)
    service = open_service(settings, WyomingOptions(), tts=tts)
    try:
        with live_wyoming(service) as uri:
            async def both():
                from wyoming.client import AsyncTcpClient

                host, port = uri.removeprefix("tcp://").split(":")
                async with AsyncTcpClient(host, int(port)) as first:
                    await first.write_event(Synthesize(text=LONG).event())
                    await read_until(first, ("audio-chunk",))
                    assert await asyncio.to_thread(gate.reached.wait, 60)  # the first holds the only place
                    second = await exchange(uri, [Synthesize(text="Hello.").event()])
                    gate.open.set()
                    return second, await read_until(first, ("audio-stop",))

            second, first = asyncio.run(both())
    finally:
        gate.open.set()
        service.close()
    assert [e.type for e in second] == ["error"] and second[0].data["code"] == "busy"
    assert first[-1].type == "audio-stop"

"""``luxtts speak``: text -> audio in a cloned voice, streamed to disk chunk by chunk (see commands.job)."""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from ..errors import InvalidOptionError, ResumeError
from . import common
from .common import EXIT_OK, QUANTIZE_SUMMARY, SAMPLE_RATES

HELP = "speak text in the voice of a reference recording"
DESCRIPTION = (
    "Speak TEXT (or the text of -f FILE) in the voice of a reference recording or saved voice. Long text is "
    "spoken in chunks and streamed into OUTPUT.partial as it is made; the file is renamed to OUTPUT when done. "
    "An interrupted job (Ctrl-C) keeps OUTPUT.partial and OUTPUT.partial.json: run the same command with "
    "--resume to continue it."
)
STDOUT = "-"
DEFAULT_CHUNK_TOKENS = 100
PROGRESS_LINE_SECONDS = 60.0


def configure(p: argparse.ArgumentParser) -> None:
    from ..audio.write import FORMATS

    p.add_argument("text", nargs="?", help="what to say (or use -f)")
    p.add_argument("-f", "--file", metavar="FILE", help="read the text from this UTF-8 file ('-' = stdin)")
    p.add_argument("-v", "--voice", required=True,
                   help="reference recording (wav, flac, mp3, ...), a saved voice name, or a saved voice file")
    p.add_argument("-o", "--output", required=True,
                   help="output file (format from its suffix: .wav .flac .ogg .opus .mp3), or '-' for stdout")
    p.add_argument("--format", choices=FORMATS,
                   help="output format; must agree with the output's suffix (default: from the suffix, wav for '-'; "
                        "ogg = Vorbis)")
    common.add_force(p)
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted job that left OUTPUT.partial (run with the same arguments)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress and no summary line on stderr")
    common.add_model_args(p)
    p.add_argument("--quantize", choices=["int8"], default=None,
                   help=f"int8 linear layers on the CPU (float32 only): {QUANTIZE_SUMMARY} (default: off)")
    common.add_prompt_args(p)
    p.add_argument("--steps", type=int, help="sampling steps, >= 1 (default: the model's, 4 for LuxTTS)")
    p.add_argument("--speed", type=float, help="speaking rate, > 0 (default: 1.0; LuxTTS applies x1.3 inside)")
    p.add_argument("--t-shift", type=float, help="time-grid shift, > 0 (default: 0.5)")
    p.add_argument("--guidance", type=float, help="guidance scale, >= 0 (default: 3.0, ZipVoice 1.0)")
    p.add_argument("--seed", type=int,
                   help="random seed for reproducible output (default: a random one, kept for --resume)")
    p.add_argument("--sample-rate", type=int, choices=SAMPLE_RATES,
                   help="output rate in Hz (default: the model's, 48000 for LuxTTS)")
    p.add_argument("--smooth", action="store_true", help="use only the vocoder's 24 kHz head (can sound smoother)")
    p.add_argument("--chunk-tokens", type=int, default=DEFAULT_CHUNK_TOKENS,
                   help="most tokens spoken in one pass, >= 0; longer text is split at punctuation "
                        f"(0 = never split; default: {DEFAULT_CHUNK_TOKENS})")


# ------------------------------------------------------------------------------------------------ checks


def output_format(output: str, fmt: Optional[str]) -> str:
    """The format to write: --format and the suffix must agree; stdout defaults to wav."""
    from ..audio.write import SUFFIXES

    if output == STDOUT:
        return fmt or "wav"
    suffix = Path(output).suffix.lower()
    by_suffix = SUFFIXES.get(suffix)
    if fmt is not None and by_suffix is not None and by_suffix != fmt:
        raise InvalidOptionError(
            f"--format {fmt} disagrees with the output suffix {suffix!r} ({by_suffix}); change one of them")
    if fmt is None and by_suffix is None:
        raise InvalidOptionError(
            f"cannot tell the output format from {output!r}; use a suffix ({', '.join(sorted(SUFFIXES))}) or --format")
    return fmt or by_suffix


def read_text(text: Optional[str], file: Optional[str]) -> str:
    from ..errors import EmptyTextError

    if (text is None) == (file is None):
        raise InvalidOptionError("give the text to speak either as an argument or with -f FILE (exactly one)")
    if file is not None:
        try:
            text = sys.stdin.read() if file == STDOUT else Path(file).expanduser().read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InvalidOptionError(f"text file not found: {file}") from None
        except (OSError, UnicodeDecodeError) as e:
            raise InvalidOptionError(f"cannot read the text file {file}: {e}") from None
    if not text or not text.strip():
        raise EmptyTextError("the text to speak is empty; give at least one word")
    return text


def _check_args(args: argparse.Namespace) -> str:
    if args.chunk_tokens < 0:
        raise InvalidOptionError(f"--chunk-tokens must be >= 0 (0 = never split), got {args.chunk_tokens}")
    fmt = output_format(args.output, args.format)
    if args.output == STDOUT:
        if args.resume:
            raise InvalidOptionError("--resume needs an output file; a job written to stdout cannot be resumed")
        if sys.stdout.isatty():
            raise InvalidOptionError("refusing to write binary audio to a terminal; redirect it (> out.wav, | aplay) "
                                     "or give -o FILE")
    return fmt


def _load_voice(tts, args: argparse.Namespace, voice):
    from ..prompt import VoicePrompt

    if isinstance(voice, VoicePrompt):
        given = [flag for flag, value in (("--voice-text", args.voice_text), ("--duration", args.duration),
                                          ("--rms", args.rms)) if value is not None]
        if given:
            raise InvalidOptionError(
                f"{', '.join(given)} describe(s) how a recording is encoded, but voice {args.voice!r} is already "
                "encoded; drop it, or encode the recording again (luxtts voice add NAME REC --force ...)")
        return voice
    duration, rms = common.prompt_settings(args)
    return tts.encode_prompt(str(voice), duration=duration, rms=rms, text=args.voice_text)


# ------------------------------------------------------------------------------------------------ run


def run(args: argparse.Namespace) -> int:
    from ..options import SynthesisOptions

    started = time.perf_counter()
    fmt = _check_args(args)
    text = read_text(args.text, args.file)
    options = SynthesisOptions(num_steps=args.steps, guidance_scale=args.guidance, t_shift=args.t_shift,
                               speed=args.speed, seed=args.seed)
    output = None if args.output == STDOUT else Path(args.output).expanduser()
    from ..voices import find_voice

    voice = find_voice(args.voice)  # an unknown name: VoiceNotFoundError with a "did you mean" from the library
    if output is not None:
        common.check_new_output(output, args.force or args.resume, _inputs(args))
        if args.resume and output.exists():
            raise ResumeError(f"{args.output} already exists: that job is finished (--force starts it over)")
        _check_job(output, args)  # before loading the model: these answers need no synthesis

    from ..devices import resolve_device
    from ..pipeline import LuxTTS

    device = resolve_device(args.device)
    tts = LuxTTS.from_pretrained(args.model or common.default_model(), device=device, dtype=args.dtype,
                                 quantize=args.quantize)
    files = tts.files
    if output is not None:
        common.check_not_input(output, [("model's " + name, getattr(files, name)) for name in
                                        ("checkpoint", "config", "tokens", "vocoder_config", "vocoder_weights")])
    prompt = _load_voice(tts, args, voice)
    rate = args.sample_rate or tts.sample_rate
    _check_rate(fmt, rate)
    report = Report(args.quiet)
    # A file is wanted whole, so the fewest passes (stream's own default cuts a short first chunk for listeners).
    kwargs = dict(smooth=args.smooth, sample_rate=args.sample_rate, chunk_tokens=args.chunk_tokens,
                  chunk_policy="fewest")
    if output is None:
        return _to_stdout(tts, text, prompt, options, kwargs, fmt, rate, report, started)
    settings = _settings(args, text, prompt, tts, fmt, rate)
    return _to_file(tts, text, prompt, options, kwargs, output, fmt, rate, settings, args, report, started)


def _check_rate(fmt: str, rate: int) -> None:
    """Refuse before any synthesis what the encoder would refuse at the end (opus at 44.1 kHz, ...)."""
    from ..audio.write import CODEC_RATES

    allowed = CODEC_RATES.get(fmt)
    if allowed is not None and rate not in allowed:
        raise InvalidOptionError(f"{fmt} cannot be written at {rate} Hz; accepted: {', '.join(map(str, allowed))} "
                                 "(use --sample-rate)")


def _inputs(args: argparse.Namespace) -> list:
    from ..voices import VOICE_SUFFIX, open_library

    voice = Path(args.voice).expanduser()
    if voice.is_file():
        label = "saved voice file" if voice.suffix == VOICE_SUFFIX else "voice recording"
    else:  # a saved voice: the library file it lives in is an input too
        with open_library() as store:
            label, voice = "voice library", Path(store.location) if store.kind == "sqlite" else None
    return [(label, voice), ("text file", args.file if args.file not in (None, STDOUT) else None)]


def _settings(args, text: str, prompt, tts, fmt: str, rate: int) -> dict:
    """What must be the same for a resumed job to continue the interrupted one's audio."""
    from .. import __version__

    voice = hashlib.sha256(prompt.features.contiguous().cpu().numpy().tobytes())
    voice.update(repr((list(prompt.tokens), float(prompt.rms))).encode())
    return {
        "luxtts": __version__, "text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "voice_sha256": voice.hexdigest(), "model": str(tts.files.checkpoint), "device": tts.device.type,
        "dtype": str(tts.dtype), "quantize": args.quantize, "steps": args.steps, "guidance": args.guidance,
        "t_shift": args.t_shift, "speed": args.speed, "smooth": args.smooth, "sample_rate": rate,
        "chunk_tokens": args.chunk_tokens, "format": fmt,
    }


def _check_job(output: Path, args: argparse.Namespace) -> None:
    """--resume needs an interrupted job; without it, an interrupted job is kept unless --force."""
    from . import job

    state = job.load_state(output)
    partial = job.partial_path(output)
    if state is not None and not partial.is_file():
        job.discard(output)  # renamed into place but the state not yet removed: nothing left to resume
        state = None
    if args.resume and state is None:
        raise ResumeError(f"there is no interrupted job for {args.output} to resume "
                          f"(no {job.state_path(output).name}); run without --resume")
    if not args.resume and not args.force and (state is not None or partial.exists()):
        done = f" ({state.chunks_done}/{state.chunks_total} chunks done)" if state else ""
        raise ResumeError(f"an interrupted job for {args.output} exists{done}: continue it with --resume, "
                          "or start over with --force")


def _to_stdout(tts, text, prompt, options, kwargs, fmt, rate, report, started) -> int:
    from ..audio import write_audio

    # A pipe cannot be rewritten at the end (wav sizes, flac totals), so stdout gets the audio when complete.
    with report.progress() as progress:
        result = tts.generate(text, prompt, options, progress=progress, **kwargs)
    write_audio(STDOUT, result.audio, result.sample_rate, format=fmt)
    report.summary(result.duration, rate, "<stdout>", time.perf_counter() - started, result.timings.get("total"))
    return EXIT_OK


def _to_file(tts, text, prompt, options, kwargs, output: Path, fmt, rate, settings, args, report, started) -> int:
    import secrets

    from .. import longform
    from . import job

    state = job.load_state(output)
    partial = job.partial_path(output)
    if args.resume:
        wanted = dict(settings)
        if args.seed is not None and args.seed != state.seed:
            raise ResumeError(f"--seed {args.seed} differs from the interrupted job's seed {state.seed}")
        if state.settings != wanted:
            raise ResumeError("the interrupted job was started with other settings: "
                              f"{job.settings_diff(state.settings, wanted)}; run the same command with --resume, "
                              "or start over with --force")
    else:
        job.discard(output)  # nothing to resume, or --force: start over
        state = None
    if state is None:
        seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
        state = job.JobState(settings=settings, seed=seed)

    joiner = longform.Joiner(rate, longform.DEFAULT_CROSSFADE_MS)
    joiner.restore(state.held_tensor())
    start_chunk, start_frames = state.chunks_done, state.frames
    timings: dict = {}
    new = partial.with_name(partial.name + ".new")
    sink = job.AudioSink(new if start_chunk or start_frames else partial, fmt, rate)
    try:
        if sink.path == new:
            sink.copy_from(partial, start_frames)
            sink.sync()
            os.replace(new, partial)
            sink.path = partial
        job.save_state(output, state)
        with report.progress(start_chunk) as bar, _sigterm_interrupts():
            def checkpoint(done: int, total: int) -> None:
                if args.resume and state.chunks_total not in (None, total):
                    raise ResumeError(f"the text now splits into {total} chunks, not {state.chunks_total}; "
                                      "start over with --force")
                sink.sync()
                state.chunks_done, state.chunks_total, state.frames = done, total, sink.frames
                state.set_held(joiner.held)
                job.save_state(output, state)
                bar(done, total)

            for piece in tts.stream(text, prompt, options.replace(seed=state.seed), progress=checkpoint,
                                    timings=timings, start_chunk=start_chunk, joiner=joiner, **kwargs):
                sink.write(piece)
    finally:
        sink.close()
    if sink.frames == 0:
        from ..errors import AudioWriteError

        raise AudioWriteError(f"{args.output}: the text gave no audio")
    os.chmod(partial, common.new_file_mode())
    os.replace(partial, output)
    job.discard(output)
    seconds = sink.frames / rate
    note = f" (resumed at chunk {start_chunk + 1})" if start_chunk else ""
    report.summary(seconds, rate, args.output + note, time.perf_counter() - started, timings.get("total"),
                   generated=(sink.frames - start_frames) / rate)
    return EXIT_OK


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM ends the job like Ctrl-C does: the partial file closed and resumable."""
    def interrupt(signum, frame):  # noqa: ANN001 - signal API
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ------------------------------------------------------------------------------------------------ output


class Report:
    """Progress (a bar on a terminal, a plain line now and then otherwise) and the closing summary line."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    @contextmanager
    def progress(self, start: int = 0):
        state = {"bar": None, "last_line": time.monotonic(), "last_tenth": None}

        def update(done: int, total: int) -> None:
            if self.quiet or total <= 1:
                return
            if sys.stderr.isatty():
                if state["bar"] is None:
                    from tqdm import tqdm

                    state["bar"] = tqdm(total=total, initial=start, unit="chunk", desc="luxtts", leave=False)
                state["bar"].update(done - state["bar"].n)
                return
            tenth = done * 10 // total
            now = time.monotonic()
            if state["last_tenth"] is None:
                state["last_tenth"] = start * 10 // total
            if tenth > state["last_tenth"] or now - state["last_line"] >= PROGRESS_LINE_SECONDS:
                state["last_tenth"], state["last_line"] = tenth, now
                print(f"luxtts: {done}/{total} chunks ({100 * done // total}%)", file=sys.stderr, flush=True)

        try:
            yield update
        finally:
            if state["bar"] is not None:
                state["bar"].close()

    def summary(self, seconds: float, rate: int, where: str, wall: float, compute: Optional[float],
                generated: Optional[float] = None) -> None:
        if self.quiet:
            return
        made = seconds if generated is None else generated
        rtf = (compute if compute is not None else wall) / max(made, 1e-9)
        print(f"luxtts: wrote {seconds:.1f} s of {common.describe_rate(rate)} audio to {where} in "
              f"{common.human_seconds(wall)}, RTF {rtf:.2f}", file=sys.stderr, flush=True)

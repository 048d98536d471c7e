"""The voice library on both databases it supports: a SQLite file and a real PostgreSQL 15 server.

Every behaviour is checked on both: create/get/list/delete, duplicates, exact prompt and audio round trips,
names that could be paths, consents, concurrent creation of one name (threads and processes), a process
killed with SIGKILL mid-creation, and the import of voice files saved by older luxtts.
"""

from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from luxtts.errors import (ConsentNotFoundError, InvalidOptionError, VoiceExistsError, VoiceNotFoundError,
                           VoiceStoreError)
from luxtts.prompt import VoicePrompt
from luxtts.voices import open_store, store_kind

REPO = Path(__file__).resolve().parents[1]
BAD_NAMES = ["../evil", "..", "a/b", "a\\b", "a\x00b", "x" * 10_000, "", " ", ".hidden", "voice_" + "0" * 32]


def make_prompt(seed: int = 0, frames: int = 77) -> VoicePrompt:
    g = torch.Generator().manual_seed(seed)
    return VoicePrompt(features=torch.randn(frames, 100, generator=g), tokens=[seed % 50 + 1, 7, 3], rms=0.0371 + seed,
                       transcript=f"Ünïcode «{seed}» 你好", source="upload.wav", duration=1.25, cropped=bool(seed % 2),
                       vocab_sha256="cd" * 32, extra={"seed": seed})


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("LUXTTS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LUXTTS_VOICES_DB", raising=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/library/voices.db"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(url):
    with open_store(url) as s:
        yield s


def add(store, name, seed=0, audio=b"RIFF-not-really-wav", **kw):
    return store.create(name, make_prompt(seed), audio=audio, audio_filename=f"{name}.wav",
                        transcript=f"words of {name}", **kw)


def test_create_get_list_delete(store):
    before = int(time.time())
    alice = add(store, "alice", seed=1)
    bob = add(store, "bob.v2-x_", seed=2)
    assert alice.id.startswith("voice_") and alice.id != bob.id
    assert alice.name == "alice" and alice.transcript == "words of alice" and alice.audio_filename == "alice.wav"
    assert alice.vocab_sha256 == "cd" * 32 and alice.consent_id is None and alice.imported_from is None
    assert before <= alice.created_at <= time.time() + 1
    assert store.get("alice") == alice and store.get(alice.id) == alice
    assert [v.name for v in store.list()] == ["alice", "bob.v2-x_"]
    assert store.delete(alice.id) == alice
    assert [v.name for v in store.list()] == ["bob.v2-x_"]
    with pytest.raises(VoiceNotFoundError):
        store.get(alice.id)
    with pytest.raises(VoiceNotFoundError):
        store.delete("alice")
    with pytest.raises(VoiceNotFoundError):
        store.load_prompt("alice")
    assert store.get("bob.v2-x_") == bob


def test_changes_are_seen_by_another_connection(url):
    with open_store(url) as one, open_store(url) as two:
        record = add(one, "shared")
        assert two.get("shared") == record
        assert two.load_prompt(record.id) == make_prompt(0)
        two.delete("shared")
        with pytest.raises(VoiceNotFoundError):
            one.get(record.id)


def test_prompt_round_trip_is_exact(store):
    for seed, frames in ((0, 1), (1, 77), (2, 1500)):
        prompt = make_prompt(seed, frames)
        store.create(f"v{seed}", prompt, audio=b"a", audio_filename="a.wav", transcript="")
        loaded = store.load_prompt(f"v{seed}")
        assert loaded == prompt
        assert torch.equal(loaded.features, prompt.features) and loaded.features.dtype == torch.float32
        assert loaded.to_bytes() == prompt.to_bytes()
        assert dict(loaded.extra) == {"seed": seed} and loaded.transcript == prompt.transcript


def test_original_audio_round_trip(store):
    audio = random.Random(5).randbytes(3_000_000) + b"\x00" * 1000 + b"end"
    record = add(store, "raw", audio=audio)
    assert store.original_audio("raw") == audio
    assert store.original_audio(record.id) == audio


def test_duplicate_name_is_refused_and_the_first_voice_kept(store):
    first = add(store, "alice", seed=1, audio=b"first")
    with pytest.raises(VoiceExistsError, match="a voice named 'alice' already exists"):
        add(store, "alice", seed=2, audio=b"second")
    assert store.list() == [first]
    assert store.original_audio("alice") == b"first" and store.load_prompt("alice") == make_prompt(1)
    replaced = add(store, "alice", seed=3, audio=b"third", replace=True)
    assert replaced.id != first.id and store.list() == [replaced]
    assert store.original_audio("alice") == b"third" and store.load_prompt("alice") == make_prompt(3)


@pytest.mark.parametrize("name", BAD_NAMES, ids=lambda n: repr(n)[:12])
def test_bad_names_are_refused_and_nothing_is_stored(store, name, tmp_path):
    with pytest.raises(InvalidOptionError, match="voice name .* is not allowed") as err:
        add(store, name)
    assert len(str(err.value)) < 300  # a 10,000-character name is not echoed back whole
    assert store.list() == []
    refused = VoiceNotFoundError if name.startswith("voice_") else InvalidOptionError  # an id is a fine key
    for call in (store.get, store.delete, store.load_prompt, store.original_audio):
        with pytest.raises(refused):
            call(name)
    assert not (tmp_path / "evil").exists() and not (tmp_path / "library" / "evil").exists()


def test_unknown_voice_suggests_close_names(store):
    add(store, "narrator")
    add(store, "alice")
    with pytest.raises(VoiceNotFoundError, match=r"no saved voice named 'narator'.*did you mean 'narrator'\?"):
        store.get("narator")
    with pytest.raises(VoiceNotFoundError, match="saved voices: alice, narrator"):
        store.load_prompt("zzz")
    with pytest.raises(VoiceNotFoundError, match="no saved voice named 'voice_0+'"):
        store.get("voice_" + "0" * 32)


def test_bad_arguments_are_refused(store):
    prompt = make_prompt()
    cases = [
        (dict(audio=b""), "the voice's audio is empty"),
        (dict(audio="text"), "must be bytes"),
        (dict(audio_filename="a\nb.wav"), "audio_filename"),
        (dict(audio_filename="x" * 300), "audio_filename"),
        (dict(transcript=None), "transcript must be a string"),
    ]
    for change, message in cases:
        kw = {**dict(audio=b"a", audio_filename="a.wav", transcript="t"), **change}
        with pytest.raises(InvalidOptionError, match=message):
            store.create("ok", prompt, **kw)
    with pytest.raises(InvalidOptionError, match="prompt must be a VoicePrompt"):
        store.create("ok", {"not": "a prompt"}, audio=b"a", audio_filename="a.wav", transcript="")
    assert store.list() == []


def test_consents(store):
    consent = store.create_consent(b"I agree", "consent.webm", "en-US", name="Alice")
    assert consent.id.startswith("cons_") and consent.language == "en-US" and consent.name == "Alice"
    assert store.get_consent(consent.id) == consent and store.list_consents() == [consent]
    assert store.consent_audio(consent.id) == b"I agree"
    voice = add(store, "alice", consent_id=consent.id)
    assert store.get("alice").consent_id == consent.id == voice.consent_id
    with pytest.raises(ConsentNotFoundError, match="no voice consent with id 'cons_nope'"):
        add(store, "bob", consent_id="cons_nope")
    with pytest.raises(ConsentNotFoundError):
        store.get_consent("cons_nope")
    for language in ("", "english!", "e", "en_US", None):
        with pytest.raises(InvalidOptionError, match="consent language"):
            store.create_consent(b"x", "c.wav", language)
    with pytest.raises(InvalidOptionError, match="consent recording is empty"):
        store.create_consent(b"", "c.wav", "en")
    assert [v.name for v in store.list()] == ["alice"] and len(store.list_consents()) == 1


def test_concurrent_creation_of_one_name_in_threads(url):
    shared = open_store(url)
    own = [open_store(url) for _ in range(3)]
    stores = [shared] * 5 + own
    barrier = threading.Barrier(len(stores))
    results = []

    def create(i, store):
        barrier.wait()
        try:
            results.append(("won", add(store, "contested", seed=i, audio=bytes([i]) * 1000)))
        except VoiceExistsError:
            results.append(("exists", i))

    threads = [threading.Thread(target=create, args=(i, s)) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    won = [r for kind, r in results if kind == "won"]
    assert len(results) == len(stores) and len(won) == 1
    assert shared.list() == won
    seed = shared.original_audio("contested")[0]
    assert shared.load_prompt("contested") == make_prompt(seed)
    for s in own + [shared]:
        s.close()


CHILD = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from test_store import add
from luxtts.errors import VoiceExistsError
from luxtts.voices import open_store, store_kind
store = open_store(sys.argv[2])
while not __import__("os").path.exists(sys.argv[3]):
    time.sleep(0.005)
try:
    add(store, "contested", seed=int(sys.argv[4]), audio=bytes([int(sys.argv[4])]) * 1000)
    print("won")
except VoiceExistsError:
    print("exists")
"""


def test_concurrent_creation_of_one_name_in_processes(url, tmp_path):
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(REPO / "tests"), url, str(go), str(i)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                for i in range(1, 4)]
    time.sleep(0.5)
    go.touch()
    outputs = [c.communicate(timeout=120) for c in children]
    assert [c.returncode for c in children] == [0, 0, 0], [err for _, err in outputs]
    assert sorted(out.strip() for out, _ in outputs) == ["exists", "exists", "won"]
    with open_store(url) as store:
        assert [v.name for v in store.list()] == ["contested"]
        seed = store.original_audio("contested")[0]
        assert store.load_prompt("contested") == make_prompt(seed)


CREATOR = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from test_store import add, crash_audio
from luxtts.voices import open_store, store_kind
store = open_store(sys.argv[2])
for i in range(int(sys.argv[3]), 10_000):
    print("ready", i, flush=True)
    sys.stdin.readline()  # the parent says when: it kills us while this creation runs
    start = time.perf_counter()
    add(store, f"v{i}", seed=i, audio=crash_audio(i))
    print("created", i, time.perf_counter() - start, flush=True)
"""
CRASH_AUDIO_BYTES = 6_000_000


def crash_audio(i: int) -> bytes:
    return i.to_bytes(4, "little") * (CRASH_AUDIO_BYTES // 4)


def test_kill_during_creation_leaves_each_voice_whole_or_absent(url):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    rng = random.Random(0)
    start, outcomes = 0, []
    for _ in range(3):
        child = subprocess.Popen([sys.executable, "-c", CREATOR, str(REPO / "tests"), url, str(start)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=env)
        created, took = [], float("inf")
        for line in child.stdout:
            words = line.split()
            if words[0] == "created":
                created.append(int(words[1]))
                took = min(took, float(words[2]))
                continue
            child.stdin.write("go\n")
            child.stdin.flush()
            if len(created) == 2:
                # kill somewhere inside this creation: it takes at least as long as the quickest one before it
                time.sleep(rng.uniform(0, took))
                os.kill(child.pid, signal.SIGKILL)
                killed = int(words[1])
                break
        child.wait(30)
        assert child.returncode == -signal.SIGKILL, child.stderr.read()
        for pipe in (child.stdin, child.stdout, child.stderr):
            try:
                pipe.close()
            except BrokenPipeError:
                pass

        with open_store(url) as store:
            names = {v.name for v in store.list()}
            assert {f"v{i}" for i in range(killed)} <= names <= {f"v{i}" for i in range(killed + 1)}
            for record in store.list():
                i = int(record.name[1:])
                assert store.original_audio(record.id) == crash_audio(i)
                assert store.load_prompt(record.id) == make_prompt(i)
            outcomes.append(f"v{killed}" in names)
            if f"v{killed}" not in names:  # the name is free again: no half voice and no stale lock hold it
                add(store, f"v{killed}", seed=killed, audio=crash_audio(killed))
        start = killed + 1
    print("killed creation completed:", outcomes)


def test_default_library_is_a_private_sqlite_file_in_wal_mode(tmp_path, monkeypatch):
    import sqlite3

    with open_store() as store:
        assert store.kind == "sqlite" and store.location == str(tmp_path / "home" / "voices.db")
        add(store, "new")
        assert [v.name for v in store.list()] == ["new"]
        for part in ("voices.db", "voices.db-wal", "voices.db-shm"):  # the log files exist while it is open
            assert stat.S_IMODE((tmp_path / "home" / part).stat().st_mode) == 0o600, part
    monkeypatch.setenv("LUXTTS_HOME", str(tmp_path / "fresh" / "home"))
    open_store().close()
    assert stat.S_IMODE((tmp_path / "fresh" / "home").stat().st_mode) == 0o700  # made by the store: owner only
    path = tmp_path / "home" / "voices.db"
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_voices_module_works_on_the_library(url, monkeypatch, tmp_path):
    from luxtts import voices

    monkeypatch.setenv("LUXTTS_VOICES_DB", url)
    recording = tmp_path / "ref.wav"
    recording.write_bytes(b"RIFF....WAVE")
    prompt = VoicePrompt(**{**make_prompt(6).__dict__, "source": str(recording)})
    record = voices.save_voice("narrator", prompt)
    assert voices.list_voices() == ["narrator"]
    assert voices.load_voice("narrator") == prompt and voices.find_voice("narrator") == prompt
    assert voices.find_voice(record.id) == prompt
    assert voices.find_voice(str(recording)) == recording
    with open_store(url) as store:
        assert store.original_audio("narrator") == b"RIFF....WAVE" and store.get("narrator").audio_filename == "ref.wav"
    with pytest.raises(VoiceExistsError):
        voices.save_voice("narrator", prompt)
    voices.save_voice("narrator", make_prompt(7), overwrite=True, audio=b"new", audio_filename="n.wav")
    assert voices.load_voice("narrator") == make_prompt(7)
    with pytest.raises(VoiceNotFoundError, match="did you mean 'narrator'"):
        voices.find_voice("narator")
    with pytest.raises(VoiceNotFoundError, match="neither an audio file nor a saved voice name"):
        voices.find_voice("../missing.wav")
    assert voices.remove_voice("narrator").name == "narrator" and voices.list_voices() == []


@pytest.mark.parametrize("bad", ["mysql://u@h/db", "sqlite://host/x.db", "sqlite::memory:", "", "sqlite:"])
def test_unsupported_urls_are_refused(bad):
    with pytest.raises(VoiceStoreError):
        open_store(bad)
    with pytest.raises(VoiceStoreError):
        store_kind(bad)


def test_url_forms(tmp_path, monkeypatch):
    assert store_kind() == "sqlite" and store_kind("postgresql://u:p@h:5/d") == "postgresql"
    monkeypatch.setenv("LUXTTS_VOICES_DB", "postgres://h/d")
    assert store_kind() == "postgresql"
    for url in (f"sqlite:///{tmp_path}/a.db", f"sqlite:////{tmp_path}/a.db", str(tmp_path / "a.db")):
        with open_store(url) as store:
            assert store.location == str(tmp_path / "a.db")
            add(store, f"v{len(store.list())}")
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:rel.db") as store:
        assert store.location == str(tmp_path / "rel.db") and store.list() == []


def test_unreachable_postgresql_fails_clearly_without_the_password():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(VoiceStoreError, match=f"cannot connect to the voice library postgresql://u:\\*\\*\\*@127.0.0.1:{port}/db") as err:
        open_store(f"postgresql://u:secret@127.0.0.1:{port}/db")
    assert "secret" not in str(err.value)


def test_a_library_from_a_newer_luxtts_is_refused(url):
    with open_store(url) as store:
        with store._db.transaction(write=True) as tx:
            tx.run("UPDATE luxtts_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(VoiceStoreError, match="newer luxtts"):
        open_store(url)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # the autouse home is not touched
@given(st.text(max_size=80) | st.sampled_from(BAD_NAMES) | st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,70}\n?"))
# 64 characters whose repr is 300 long (found by hypothesis on 2026-12-06: the message once quoted the whole repr)
@example("000000" + "\x1f" * 7 + "\U00018d09\U0002ebe1" + "0\n" + "0" * 20 + "\x1f" * 9 + "\U00010bb0\U00012544" * 4)
@example("\U0001f23c" * 64)
def test_a_name_is_a_safe_single_label_or_refused_with_a_short_message(name):
    from luxtts.voices import check_name

    try:
        assert check_name(name) == name
    except InvalidOptionError as e:
        assert len(str(e)) < 250
        return
    assert 1 <= len(name) <= 64 and name not in (".", "..") and not name.startswith(".")
    assert not set(name) & set("/\\\x00:*?\"<>| \n\t")
    assert Path(name).name == name and not Path(name).is_absolute()


def test_servers_opening_a_new_library_together_all_succeed(url):
    barrier = threading.Barrier(6)
    opened, failed = [], []

    def start():
        barrier.wait()
        try:
            opened.append(open_store(url))
        except Exception as e:  # noqa: BLE001 - collected for the assertion
            failed.append(e)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failed == [] and len(opened) == 6
    add(opened[0], "first")
    assert [v.name for v in opened[5].list()] == ["first"]
    for s in opened:
        s.close()


def test_postgresql_connections_dropped_by_the_server_are_replaced(postgres_url):
    import psycopg

    with open_store(postgres_url) as store:
        add(store, "alice")
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            dropped = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                    "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
        assert dropped >= 1  # the store's pooled connection is gone
        assert store.get("alice").name == "alice"
        add(store, "bob")
        assert [v.name for v in store.list()] == ["alice", "bob"]


def test_a_voice_can_be_encoded_again_from_its_recording(store):
    record = add(store, "alice", seed=1, audio=b"the recording")
    again = VoicePrompt(**{**make_prompt(2).__dict__, "vocab_sha256": "ef" * 32})  # as another model would encode it
    updated = store.update_prompt("alice", again)
    assert updated.id == record.id and updated.vocab_sha256 == "ef" * 32 == store.get(record.id).vocab_sha256
    assert store.load_prompt("alice") == again and store.original_audio("alice") == b"the recording"
    with pytest.raises(VoiceNotFoundError):
        store.update_prompt("bob", again)

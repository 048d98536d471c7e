"""Voice aliases (``luxtts voice alias alloy alice``) in the store, on SQLite and PostgreSQL, and in the CLI."""

from __future__ import annotations

import pytest
from test_store import add, isolated_home, make_prompt, store, url  # noqa: F401 - the store tests' fixtures

from luxtts.errors import AliasNotFoundError, InvalidOptionError, VoiceExistsError, VoiceNotFoundError
from luxtts.voices import open_store


def test_set_list_resolve_and_remove(store):
    alice, bob = add(store, "alice", seed=1), add(store, "bob", seed=2)
    assert store.aliases() == [] and store.alias_target("alloy") is None
    record = store.set_alias("alloy", "alice")
    assert (record.alias, record.voice_id, record.voice_name) == ("alloy", alice.id, "alice")
    store.set_alias("ash", bob.id)  # by id too
    assert [(a.alias, a.voice_name) for a in store.aliases()] == [("alloy", "alice"), ("ash", "bob")]
    assert store.alias_target("alloy") == alice.id
    moved = store.set_alias("alloy", "bob")  # setting it again points it elsewhere
    assert moved.voice_id == bob.id and store.alias_target("alloy") == bob.id
    assert store.remove_alias("alloy").voice_name == "bob"
    assert store.alias_target("alloy") is None
    with pytest.raises(AliasNotFoundError, match="ash"):  # the message lists the aliases there are
        store.remove_alias("alloy")


def test_an_alias_cannot_shadow_a_voice_or_name_nothing(store):
    add(store, "alice", seed=1)
    add(store, "echo", seed=2)
    with pytest.raises(VoiceExistsError):
        store.set_alias("echo", "alice")
    with pytest.raises(VoiceNotFoundError):
        store.set_alias("alloy", "nobody")
    for bad in ("../x", "", "a/b", "voice_" + "0" * 32):
        with pytest.raises(InvalidOptionError):
            store.set_alias(bad, "alice")
    assert store.aliases() == []


def test_deleting_a_voice_drops_its_aliases_and_replacing_it_keeps_them(store):
    add(store, "alice", seed=1)
    add(store, "bob", seed=2)
    store.set_alias("alloy", "alice")
    store.set_alias("ash", "bob")
    replaced = add(store, "alice", seed=3, replace=True)
    assert store.alias_target("alloy") == replaced.id
    assert store.load_prompt(store.alias_target("alloy")) == make_prompt(3)
    store.delete("bob")
    assert [a.alias for a in store.aliases()] == ["alloy"]
    add(store, "bob", seed=4)  # a new voice of the old name does not inherit the old one's aliases
    assert store.alias_target("ash") is None


def test_aliases_are_seen_by_another_connection(url):
    with open_store(url) as one, open_store(url) as two:
        add(one, "alice")
        one.set_alias("alloy", "alice")
        assert [a.alias for a in two.aliases()] == ["alloy"]


def test_a_version_1_library_gains_the_alias_table(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    with open_store(str(path)) as s:
        add(s, "alice")
    with sqlite3.connect(path) as db:  # as luxtts before aliases left it
        db.execute("DROP TABLE luxtts_aliases")
        db.execute("UPDATE luxtts_meta SET value = '1' WHERE key = 'schema_version'")
    with open_store(str(path)) as s:
        assert s.names() == ["alice"]
        s.set_alias("alloy", "alice")
        assert s.alias_target("alloy") == s.get("alice").id


def test_the_cli_sets_lists_and_removes_aliases(tmp_path, monkeypatch, capsys):
    from luxtts.cli import main

    db = tmp_path / "cli.db"
    monkeypatch.setenv("LUXTTS_VOICES_DB", str(db))
    with open_store(str(db)) as s:
        add(s, "alice")
        add(s, "bob", seed=2)
    assert main(["voice", "alias", "alloy", "alice"]) == 0
    assert main(["voice", "alias", "ash", "alice"]) == 0
    capsys.readouterr()
    assert main(["voice", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == ["alice  (aliases: alloy, ash)", "bob"]
    assert main(["voice", "unalias", "ash"]) == 0
    assert main(["voice", "unalias", "ash"]) == 2
    assert "no alias 'ash'" in capsys.readouterr().err
    assert main(["voice", "alias", "bob", "alice"]) == 2  # a voice's own name
    assert main(["voice", "alias", "nova", "nobody"]) == 2

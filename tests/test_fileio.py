import pytest

from luxtts.fileio import replaced_atomically, write_text_atomically


def test_a_file_is_replaced_whole_and_a_failure_leaves_the_old_one(tmp_path):
    target = tmp_path / "state.json"
    write_text_atomically(target, "old", sync=True)
    with pytest.raises(KeyboardInterrupt):
        with replaced_atomically(target) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary left behind
    write_text_atomically(target, "new")
    assert target.read_text() == "new"


def test_a_folder_is_replaced_whole_and_a_failure_leaves_the_old_one(tmp_path):
    target = tmp_path / "model"
    with replaced_atomically(target, folder=True, sync=True) as tmp:
        (tmp / "a.txt").write_text("1")
    with pytest.raises(RuntimeError):
        with replaced_atomically(target, folder=True) as tmp:
            (tmp / "b.txt").write_text("2")
            raise RuntimeError("disk full")
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]
    with replaced_atomically(target, folder=True) as tmp:
        (tmp / "c.txt").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["c.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]

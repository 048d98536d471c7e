"""The luxtts package's imports form no circle (STYLE habit 12: dependencies flow one way).

Every import counts: at module level, inside functions, and under ``if TYPE_CHECKING``. A lazy import inside a
function only postpones when a dependency is paid, not whether it exists: two modules that each reach for the
other at call time still cannot be understood, tested or moved apart, and every circle this test was written
against (eval report <-> runner, voices <-> store <-> prompt) went through such lazy imports. Type-only imports
count for the same reason a reader follows them; none is needed today. The module-level graph is reported
apart, as that is where a circle would also break at import time.
"""

from __future__ import annotations

from import_graph import FUNCTION, MODULE, TYPING, cycles, graph, luxtts_modules


def test_the_graph_is_read():
    edges = graph((MODULE, FUNCTION, TYPING))
    assert len(luxtts_modules()) > 50
    assert "luxtts.voices" in edges["luxtts.pipeline"]  # a module-level import of a package
    assert "luxtts.prompt" in edges["luxtts.voices.resolve"]  # a lazy one
    assert "luxtts.eval.journal" in edges["luxtts.eval.report"]  # a relative one


def test_no_import_circle_at_module_level():
    assert cycles(graph((MODULE,))) == []


def test_no_import_circle_counting_lazy_and_type_only_imports():
    assert cycles(graph((MODULE, FUNCTION, TYPING))) == []


def test_a_circle_would_be_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []

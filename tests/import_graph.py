"""The luxtts import graph, read from the source with ast (nothing is imported)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "luxtts"

# Where an import statement sits: at module level, inside a function (runs when called), or under
# `if TYPE_CHECKING:` (never runs; annotations only).
MODULE, FUNCTION, TYPING = "module", "function", "typing"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_of(path: Path) -> str:
    name = module_name(path)
    return name if path.name == "__init__.py" else name.rsplit(".", 1)[0]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _statements(body, where: str) -> Iterator[Tuple[ast.stmt, str]]:
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, where
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from ((n, FUNCTION) for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom)))
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _statements(node.body, TYPING)
            yield from _statements(node.orelse, where)
        else:  # class bodies, try/with/if blocks: still run at import
            for field in ("body", "orelse", "finalbody", "handlers"):
                yield from _statements(getattr(node, field, None) or [], where)


def imports(path: Path) -> List[Tuple[str, List[str], str]]:
    """(module, names, where) per import statement of ``path``, relative imports resolved against its package:
    ``import a.b`` gives ("a.b", [], where), ``from a import b, c`` gives ("a", ["b", "c"], where)."""
    package = _package_of(path)
    found = []
    for node, where in _statements(ast.parse(path.read_text(encoding="utf-8")).body, MODULE):
        if isinstance(node, ast.Import):
            found += [(a.name, [], where) for a in node.names]
            continue
        base = node.module or ""
        if node.level:
            parts = package.split(".")
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join(parts + ([base] if base else []))
        found.append((base, [a.name for a in node.names], where))
    return found


def imported_names(path: Path) -> Set[str]:
    """Absolute names of everything ``path`` imports, wherever the import sits: ``from a import b`` gives both
    ``a`` and ``a.b`` (b may be a module or a name in a)."""
    return {n for base, names, _ in imports(path) for n in [base] + [f"{base}.{x}" for x in names]}


def luxtts_modules() -> Dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def graph(kinds: Tuple[str, ...]) -> Dict[str, Set[str]]:
    """module -> the luxtts modules it imports by a statement of one of ``kinds``. ``from pkg import x`` points
    at pkg.x when that is a module, else at pkg. The parent packages Python initialises on the way are not
    edges: with them every submodule would form a circle with an __init__ that re-exports it."""
    modules = luxtts_modules()
    edges: Dict[str, Set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for base, names, where in imports(path):
            if where not in kinds:
                continue
            submodules = [f"{base}.{x}" for x in names if f"{base}.{x}" in modules]
            targets = submodules if submodules and len(submodules) == len(names) else [base] + submodules
            edges[module].update(t for t in targets if t in modules and t != module)
    return edges


def cycles(edges: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)

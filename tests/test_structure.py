"""The shape of the library, read from its source with `ast` (docs/architecture.md, Layers): no import circle
between files, no import back up the layers, no function over 100 lines."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ts_florence"
MAX_FUNCTION_LINES = 100


def _module_name(path: Path) -> str:
    parts = ["ts_florence", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, file_level: bool) -> set[str]:
    """The modules that module `name` imports (relative imports resolved): at file level (its body, `if
    TYPE_CHECKING:` and `try:` blocks included, not inside functions or classes), or anywhere in the file.
    `from package import module` imports the module."""
    path = MODULES[name]
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
                found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names)
            if file_level and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            visit([child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt)])

    visit(ast.parse(path.read_text()).body)
    return found - {name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of `graph`: its strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return components


def test_the_cycle_finder_finds_a_circle_and_only_circles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_reader_sees_relative_type_checking_and_submodule_imports():
    # engine/refine/annotate.py: `from .. import steps as S`, `from .config import ...`, `from ...tasks import TASKS`
    imports = _imports("ts_florence.engine.refine.annotate", file_level=True)
    assert {"ts_florence.engine.steps", "ts_florence.engine.refine.config", "ts_florence.tasks"} <= imports
    assert "ts_florence.engine.build" not in imports  # imported inside a function
    assert "ts_florence.engine.build" in _imports("ts_florence.engine.refine.annotate", file_level=False)
    assert "ts_florence.evaluation.examples" in _imports("ts_florence.evaluation.scorers", file_level=True)


def test_no_import_circle_between_files():
    graph = {name: _imports(name, file_level=True) & MODULES.keys() for name in MODULES}
    assert _cycles(graph) == []


def _below(name: str, layers: tuple[str, ...]) -> bool:
    return any(name == layer or name.startswith(layer + ".") for layer in layers)


UPPER = ("ts_florence.engine", "ts_florence.evaluation", "ts_florence.training", "ts_florence.benchmark")
CORE = [
    name
    for name in MODULES
    if not _below(name, UPPER) and name not in ("ts_florence", "ts_florence.cli", "ts_florence.benchmark")
]


@pytest.mark.parametrize(
    ("lower", "upper"),
    [
        (CORE, UPPER),  # the core (records ... data) is below engine/, evaluation/, training/ and benchmark.py
        ([name for name in MODULES if _below(name, ("ts_florence.evaluation",))], ("ts_florence.engine",)),
        (list(MODULES), ("training", "scripts")),  # the library never imports training/ or scripts/
    ],
    ids=["core", "evaluation", "library"],
)
def test_no_import_runs_back_up_the_layers(lower, upper):
    assert "ts_florence.tasks" in CORE and "ts_florence.data" in CORE
    found = {name: sorted(m for m in _imports(name, file_level=False) if _below(m, upper)) for name in lower}
    assert {name: up for name, up in found.items() if up} == {}


def test_no_library_function_is_over_100_lines():
    long = [
        f"{name}.{node.name}: {node.end_lineno - min([node.lineno, *(d.lineno for d in node.decorator_list)]) + 1}"
        for name, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - min([node.lineno, *(d.lineno for d in node.decorator_list)]) + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []

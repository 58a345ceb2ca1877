"""The package layout stays a one-way pipeline: no import circles, and every chord_core stage
imports only the stages below it (ARCHITECTURE.md), chord_core never imports chord_ros or rclpy."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# chord_core stages, lowest first; a stage may import itself and any stage before it.
STAGES = ("errors", "share", "formats", "motion", "render", "scene", "teachers", "prior", "distill", "robot", "view",
          "commands", "bench", "cli")


def _modules() -> dict[str, Path]:
    out = {}
    for package in ("chord_core", "chord_ros"):
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules imported anywhere in the file (top level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: {m for m in _imports(path, modules) if m in modules and m != name}
            for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def _stage(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "cli"


def test_cycle_finder_sees_a_planted_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_a_module_that_imports_it_back():
    assert _cycles(_graph()) == []


def test_chord_core_stages_import_only_lower_stages():
    wrong = []
    for module, deps in _graph().items():
        if not module.startswith("chord_core."):
            continue
        rank = STAGES.index(_stage(module))
        for dep in deps:
            if dep.startswith("chord_ros") or STAGES.index(_stage(dep)) > rank:
                wrong.append(f"{module} -> {dep}")
    assert wrong == []


def test_chord_core_never_imports_ros():
    ros = ("rclpy", "chord_msgs", "chord_ros", "sensor_msgs", "geometry_msgs")
    modules = _modules()
    offenders = [f"{name}: {m}" for name, path in modules.items() if name.startswith("chord_core")
                 for m in _imports(path, modules) if m.split(".")[0] in ros]
    assert offenders == []

"""The package's shape: dependencies point one way (no import cycles, the library never imports the CLI
layer) and every module stays small enough to read."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "fieldtune"
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Every fieldtune module this file imports, at the top or inside a function (both are dependencies)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if name in modules:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: imports_of(path, set(files)) for name, path in files.items()}
    # a package's __init__ re-exporting its own submodules is not a dependency back
    return {
        name: {d for d in deps if d != name and not d.startswith(name + ".")} for name, deps in graph.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep) :] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_library_never_imports_the_cli_layer():
    offenders = [
        f"{name} -> {dep}"
        for name, deps in import_graph().items()
        if not name.startswith(("fieldtune.commands", "fieldtune.cli", "fieldtune.__main__"))
        for dep in deps
        if dep.startswith(("fieldtune.commands", "fieldtune.cli"))
    ]
    assert not offenders, offenders


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_modules_stay_small():
    long = {
        str(p.relative_to(PACKAGE.parent)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"files over {MAX_LINES} lines: {long}"


# The package's floors, bottom first (docs/ARCHITECTURE.md draws the same order): a module imports only
# modules of its own floor or of floors below it. A floor is a root module or a subpackage of `fieldtune`.
FLOORS: list[tuple[str, ...]] = [
    ("errors", "redact", "progress"),
    ("targets",),
    ("evaluation",),
    ("tasks",),
    ("config",),
    ("modeling",),
    ("rundir",),
    ("hub",),
    ("datasets_builders",),
    ("baselines",),
    ("leaderboard",),
    ("inputs",),
    ("inference",),
    ("tracking",),
    ("trainers",),
    ("training",),
    ("cv", "sweep"),
    ("serving",),
    ("cli", "commands", "__main__"),
]
# Known upward imports (all inside functions, so no cycle at import time), left until their checks move
# down: the recipe's validation asks the hub (repo ids), the method table and the run-directory layout.
KNOWN_UPWARD = {
    "fieldtune.config.loading -> fieldtune.rundir.layout",
    "fieldtune.config.rules -> fieldtune.hub.repos",
    "fieldtune.config.rules -> fieldtune.modeling.methods",
}


def floor_of(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    return next((i for i, floor in enumerate(FLOORS) if top in floor), -1)


def upward_imports() -> set[str]:
    return {
        f"{name} -> {dep}"
        for name, deps in import_graph().items()
        if name != "fieldtune"
        for dep in deps
        if dep != "fieldtune" and floor_of(dep) > floor_of(name)
    }


def test_every_module_has_a_floor():
    homeless = sorted(name for name in import_graph() if name != "fieldtune" and floor_of(name) < 0)
    assert not homeless, f"add these to a floor in FLOORS (and docs/ARCHITECTURE.md): {homeless}"


def test_imports_point_down_the_floors():
    new = sorted(upward_imports() - KNOWN_UPWARD)
    assert not new, f"imports up the floor order (move the code down, or the floor): {new}"
    gone = sorted(KNOWN_UPWARD - upward_imports())
    assert not gone, f"fixed: remove from KNOWN_UPWARD: {gone}"


def test_run_and_run_baseline_do_not_call_each_other():
    """The baseline is a stage of the run (as the ensemble is): both entry points go down to the stages,
    neither through the other (before, run -> run_baseline -> run for an image baseline)."""
    tree = ast.parse((PACKAGE / "training" / "run.py").read_text())
    calls = {
        node.name: {
            c.func.id for c in ast.walk(node) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
        }
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
    }
    assert calls["run"] and calls["run_baseline"]
    assert "run_baseline" not in calls["run"] and "run" not in calls["run_baseline"]
    stages = {name for name in calls if name.startswith("_")}
    assert all("run" not in calls[s] and "run_baseline" not in calls[s] for s in stages)


# The names of the kinds of input and of target: the flow asks `Task.inputs` / `Task.targets` instead.
# inputs, kinds of target, baselines and method rows: the flow asks their objects, it does not compare names
KIND_NAMES = {
    "text",
    "image",
    "classes",
    "tags",
    "values",
    "tfidf",
    "probe",
    "full",
    "lora",
    "freeze",
    "baseline",
}


def name_comparisons(path: Path, root: Path = PACKAGE.parent) -> list[str]:
    """`x.modality == "image"`, `kind != "values"`, ...: a comparison of a modality or kind with its name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        named = any(isinstance(s, ast.Constant) and s.value in KIND_NAMES for s in sides)
        asked = any(
            (isinstance(s, ast.Attribute) and s.attr in ("modality", "name", "baseline"))
            or (isinstance(s, ast.Name) and s.id in ("modality", "kind"))
            for s in sides
        )
        if named and asked:
            found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_the_flow_asks_the_inputs_and_targets_not_their_names():
    found = [hit for p in sorted(PACKAGE.rglob("*.py")) for hit in name_comparisons(p)]
    assert not found, (
        f"ask Task.inputs / Task.targets / the method row (fieldtune/tasks/table.py, fieldtune/targets, modeling/methods.py) instead: {found}"
    )


def test_the_name_check_finds_a_name_comparison(tmp_path):
    (tmp_path / "fieldtune").mkdir()
    probe = tmp_path / "fieldtune" / "probe.py"
    probe.write_text(
        'if task.modality == "image":\n    pass\nif kind != "values":\n    pass\nif x == "file":\n    pass\n'
    )
    assert name_comparisons(probe, tmp_path) == ["fieldtune/probe.py:1", "fieldtune/probe.py:3"]

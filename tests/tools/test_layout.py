"""tools/ by role (issue 23): the model build is one package that imports nothing but itself and the
functions' packages it runs in the image (face_recognizer, pipeline_common), so the Dockerfile copies
it whole; and no import cycle among the tools, lazy (function-level) imports included."""

from __future__ import annotations

import ast
from pathlib import Path

from components.project import PROJECT_DIR

TOOLS = PROJECT_DIR / "tools"
MODELBUILD = TOOLS / "modelbuild"
FIRST_PARTY = {
    "components",
    "local",
    "tools",
    "bench",
    "tests",
    "video_splitting",
    "face_recognizer",
    "pipeline_common",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_DIR).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module `path` imports, at any depth (lazy imports too), resolved to absolute names."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in TOOLS.rglob("*.py")}
    return {name: {m for m in imports(path) if m in modules and m != name} for name, path in modules.items()}


def test_the_model_build_imports_only_itself_and_the_functions_packages():
    for path in MODELBUILD.rglob("*.py"):
        outside = {
            m
            for m in imports(path)
            if m.split(".")[0] in FIRST_PARTY
            and not m.startswith("tools.modelbuild")
            and m.split(".")[0] not in ("face_recognizer", "pipeline_common")
        }
        assert outside == set(), f"{path.relative_to(PROJECT_DIR)} imports {sorted(outside)}"


def test_no_import_cycle_among_the_tools():
    edges = graph()
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            assert state.get(nxt) != 1, "import cycle: " + " -> ".join([*trail, node, nxt])
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])


def test_the_cycles_issue_23_named_are_gone():
    edges = graph()
    assert "tools.enroll" not in edges["tools.modelbuild.calibration"]  # calibration -> enroll -> export
    assert "tools.workload" not in edges["tools.target"]  # target <-> workload
    assert not (TOOLS / "calibrate_mtcnn.py").exists() and not (TOOLS / "mtcnn_int8.json").exists()


def test_the_documented_commands_still_run_as_tools_modules():
    for command in ("export_models", "enroll", "workload", "grade", "preflight"):
        assert (TOOLS / f"{command}.py").is_file(), command

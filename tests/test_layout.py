"""The house rules ARCHITECTURE.md states, checked: imports go one way, files stay readable."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "ganstudio"


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ganstudio"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("ganstudio")}
    return found


def module(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_core_never_imports_the_faces_and_generation_never_imports_training():
    for path in SRC.rglob("*.py"):
        name = module(path)
        found = imports(path)
        if not name.startswith(("ganstudio.cli", "ganstudio.serve")) and name != "ganstudio.__main__":
            assert not [m for m in found if m.startswith(("ganstudio.cli", "ganstudio.serve"))], name
        if name.startswith(
            ("ganstudio.pipeline", "ganstudio.metrics", "ganstudio.modelfolder", "ganstudio.results")
        ):
            assert not [m for m in found if m.startswith("ganstudio.training")], name


def test_no_import_cycles_between_modules():
    graph = {module(p): {m for m in imports(p)} for p in SRC.rglob("*.py")}
    known = set(graph)

    def resolve(target: str) -> str | None:
        while target and target not in known:
            target = target.rpartition(".")[0]
        return target or None

    edges = {
        name: {t for m in deps if (t := resolve(m)) and t != name and not name.startswith(t + ".")}
        for name, deps in graph.items()
    }
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in edges.get(node, ()):
            if state.get(nxt) == 1:
                raise AssertionError(" → ".join(path + [node, nxt]))
            if nxt not in state:
                visit(nxt, path + [node])
        state[node] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name, [])


def test_no_source_file_is_much_over_400_lines():
    long = {p.name: n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > 420}
    assert not long, long

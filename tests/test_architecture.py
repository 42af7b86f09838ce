"""Import directions between seimlip's packages and layers, read from the source with ``ast``.

Every import counts, function-local ones included (a local import hides a cycle from Python, not
from this test). Rules (ARCHITECTURE.md):

- ``mlip`` imports nothing from ``md_runs`` or ``active_learning``; ``md_runs`` nothing from
  ``active_learning``; ``active_learning`` may import both.
- inside ``mlip`` a module imports only from its own layer or lower ones (:data:`MLIP_LAYERS`);
- no import cycle between the units of a package: ``mlip``'s layers' units and the subpackages /
  top-level modules of ``md_runs`` and ``active_learning``;
- every package has a ``cli/`` whose ``__init__`` gives its typer ``app``; the ``seimlip`` root
  (``active_learning.cli``) reaches the other packages only through their ``cli``, and no
  package's ``cli`` is imported by its library code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("mlip", "md_runs", "active_learning")
ALLOWED = {"mlip": {"mlip"}, "md_runs": {"mlip", "md_runs"}, "active_learning": set(PACKAGES)}

# lowest first; a module belongs to the longest prefix listed
MLIP_LAYERS = [
    # base: helpers and the torch-free deployed-file format (``import lammps`` reaches it)
    ["mlip.errors", "mlip.version", "mlip.utils", "mlip.locks", "mlip.config",
     "mlip.pretrained", "mlip.deploy.format"],
    ["mlip.data"],
    ["mlip.nn"],
    ["mlip.model"],  # the network, ForceStressOutput, and mlip.model.io (every model loader)
    ["mlip.train"],
    ["mlip.deploy"],
    ["mlip.predictions", "mlip.uncertainty", "mlip.evaluate"],
    ["mlip.cli", "mlip.train.__main__"],  # entry points
    ["mlip"],  # the package root: a facade over the rest
]


def module_files() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = module_files()


def imported_modules(name: str, path: Path) -> set[str]:
    """The project modules ``name`` imports anywhere in its source (module level or local)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1] + [node.module or ""]).strip(".") \
                if node.level else node.module
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES)
    return {m for m in found if m and m.split(".")[0] in PACKAGES and m in MODULES}


def edges() -> list[tuple[str, str]]:
    return [(a, b) for a, path in MODULES.items() for b in sorted(imported_modules(a, path)) if a != b]


def mlip_layer(module: str) -> tuple[int, str]:
    """(layer index, unit) of an ``mlip`` module: the longest listed prefix it falls under."""
    best = None
    for index, units in enumerate(MLIP_LAYERS):
        for unit in units:
            if (module == unit or module.startswith(unit + ".")) and (best is None or len(unit) > len(best[1])):
                best = (index, unit)
    assert best is not None, f"{module} is in no layer of MLIP_LAYERS"
    return best


def unit(module: str) -> str:
    if module.startswith("mlip"):
        return mlip_layer(module)[1]
    return ".".join(module.split(".")[:2])


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


EDGES = edges()


def test_packages_import_one_way():
    bad = [f"{a} -> {b}" for a, b in EDGES if b.split(".")[0] not in ALLOWED[a.split(".")[0]]]
    assert not bad, "imports against the package direction:\n" + "\n".join(bad)


def test_mlip_modules_import_only_their_layer_or_lower():
    bad = [f"{a} (layer {mlip_layer(a)[0]}) -> {b} (layer {mlip_layer(b)[0]})" for a, b in EDGES
           if a.startswith("mlip") and b.startswith("mlip") and mlip_layer(b)[0] > mlip_layer(a)[0]]
    assert not bad, "mlip imports against its layers:\n" + "\n".join(bad)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_cycles_between_units(package):
    graph: dict[str, set[str]] = {}
    for a, b in EDGES:
        if a.split(".")[0] == package == b.split(".")[0] and unit(a) != unit(b):
            graph.setdefault(unit(a), set()).add(unit(b))
    assert not cycles(graph), f"import cycles between units of {package}: {cycles(graph)}"


CLI_APPS = {"mlip": "mlip.cli", "md_runs": "md_runs.cli", "active_learning": "active_learning.cli.commands"}


def test_each_package_has_a_cli_and_the_root_only_joins_them():
    for package, module in CLI_APPS.items():
        tree = ast.parse(MODULES[module].read_text())
        assigned = {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
                    if isinstance(t, ast.Name)}
        assert "app" in assigned, f"{module} gives no typer `app`"
    root = imported_modules("active_learning.cli", MODULES["active_learning.cli"])
    reached = {m for m in root if not m.startswith("active_learning.")}
    assert reached <= {"mlip.cli", "md_runs.cli", "mlip.errors"}, reached
    bad = [f"{a} -> {b}" for a, b in EDGES if ".cli" in b and ".cli" not in a and not a.endswith("__main__")]
    assert not bad, "library code imports a command module:\n" + "\n".join(bad)


def test_the_checker_sees_local_and_relative_imports(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from mlip.model import io\n    import md_runs.lammps.run\n")
    assert imported_modules("mlip.fake", source) >= {"mlip.model", "mlip.model.io", "md_runs.lammps.run"}
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_no_test_file_imports_another():
    """Shared test code lives in helpers.py, model_contract.py, campaign_oracles.py or conftest.py."""
    tests = Path(__file__).resolve().parent
    bad = []
    for path in sorted(tests.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            bad += [f"{path.name} imports {n}" for n in names if n.split(".")[0].startswith("test_")]
    assert not bad, "\n".join(bad)

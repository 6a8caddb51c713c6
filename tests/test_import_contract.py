"""The import contract: the project's layering, checked on the source (ast, every import
statement including function-level ones, and `importlib.import_module` with a literal name).

Bottom to top: `conformance.vocabulary` (imports nothing of the project) < `conformance.model`
(the pure policy model) < `conformance.generate`, `clusters` and `conformance.harness` <
`conformance.reports`, `conformance.upgrade` < `conformance.scenarios` and the CLIs;
`workloads` (the probe image) stands apart. Across components only public entry points are
imported: the harness reaches `clusters` through `clusters.api` alone, the upgrade run also
through `clusters.emulated.api`, and `clusters` imports nothing of the harness but the Hubble
wire stubs. No two modules import each other, directly or around a loop.

Replaces the model's former purity test (tests/model/test_model_imports.py): the model's
rule is the second line of ALLOWED.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("conformance", "clusters", "workloads")
ANY = frozenset({"*"})

# Public entry points, per component (a module counts with its submodules).
CLUSTERS_API = frozenset({"clusters.api"})
EMULATOR_API = frozenset({"clusters.api", "clusters.emulated.api"})
HUBBLE_STUBS = frozenset({"conformance.harness.hubble_api"})  # generated; imports only itself
GENERATE_API = frozenset({"conformance.generate", "conformance.generate.cells"})
HARNESS_API = frozenset({f"conformance.harness.{m}" for m in (
    "cluster", "spec", "batch", "planning", "session", "runs", "own", "own_cells", "report",
    "hubble", "kube")} | {"conformance.harness"})
# The live disruption watch (conformance/upgrade/livewatch.py) drives the cluster client.
UPGRADE_HARNESS = HARNESS_API | {f"conformance.harness.{m}" for m in (
    "kube_api", "kube_objects", "policy_wait")}
# The emulated cluster plays `prober watch` with the probe image's own loop and parser
# (clusters/emulated/watch_exec.py), deciding each sample by its datapath.
PROBER = frozenset({"workloads.prober"})

# component -> {component it may import: the modules of it allowed (ANY: all)}
ALLOWED: dict[str, dict[str, frozenset[str]]] = {
    "vocabulary": {},
    "model": {"vocabulary": ANY},
    "generate": {"vocabulary": ANY, "model": ANY},
    "clusters": {"vocabulary": ANY, "model": ANY, "harness": HUBBLE_STUBS, "workloads": PROBER},
    "harness": {"vocabulary": ANY, "model": ANY, "generate": GENERATE_API,
                "clusters": CLUSTERS_API},
    "reports": {"vocabulary": ANY, "model": ANY, "harness": HARNESS_API},
    # upgrade-check's default probes are the scenarios' cells (the package is walked).
    "upgrade": {"vocabulary": ANY, "model": ANY, "generate": GENERATE_API,
                "clusters": EMULATOR_API, "scenarios": frozenset({"conformance.scenarios"}),
                "harness": UPGRADE_HARNESS},
    "scenarios": {"vocabulary": ANY, "model": ANY, "generate": ANY, "harness": ANY,
                  "reports": ANY},
    "cli": {"vocabulary": ANY, "model": ANY, "generate": ANY, "reports": ANY, "upgrade": ANY,
            "harness": HARNESS_API, "clusters": CLUSTERS_API},
    "conformance": {},  # the package's __init__ stays import-free
    "workloads": {},
}

# Known knots, each named, to be removed by the work that unties them (then delete the entry;
# test_known_exceptions_are_still_needed fails once one is no longer needed).
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Edge:
    source: str  # importing module
    target: str  # imported module (or "package.*" for a computed name)
    where: str  # file:line
    typing_only: bool = False  # under `if TYPE_CHECKING:`: layering counts it, loops do not

    def __str__(self) -> str:
        return f"{self.where}: {self.source} imports {self.target}"


def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def component(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "conformance":
        if len(parts) == 1:
            return "conformance"
        if parts[-1] in ("cli", "__main__"):
            return "cli"
        return parts[1]
    return parts[0]


def _literal_prefix(node: ast.expr) -> str | None:
    """`"a.b"` -> a.b; f"a.b.{x}" -> a.b.* ; anything else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        head = node.values[0]
        if isinstance(head, ast.Constant) and isinstance(head.value, str) and "." in head.value:
            return head.value.rsplit(".", 1)[0] + ".*"
    return None


def imports_of(path: Path, root: Path = REPO) -> Iterator[Edge]:
    """Every project import of one file; relative imports resolved against its package."""
    module = module_name(path, root)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    rel = path.relative_to(root)
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and _is_type_checking(block.test) for stmt in block.body
                   for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            # `from pkg import mod` imports the submodule when there is one
            names = [f"{base}.{a.name}" if _is_module(root, f"{base}.{a.name}") else base
                     for a in node.names]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "import_module" and node.args:
            name = _literal_prefix(node.args[0])
            names = [name] if name else []
        for name in names:
            if name.split(".")[0] in PACKAGES:
                yield Edge(module, name, f"{rel}:{getattr(node, 'lineno', 0)}",
                           id(node) in typing_only)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _is_module(root: Path, name: str) -> bool:
    base = root.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def project_edges(root: Path = REPO) -> list[Edge]:
    out: list[Edge] = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            out.extend(imports_of(path, root))
    return out


def within(target: str, allowed: frozenset[str]) -> bool:
    if allowed is ANY:
        return True
    name = target.removesuffix(".*")
    return any(name == a or name.startswith(a + ".") for a in allowed)


def violations(edges: list[Edge]) -> list[str]:
    out = []
    for e in edges:
        src, dst = component(e.source), component(e.target)
        if src == dst and src not in ("cli", "conformance"):
            continue
        if (e.source, e.target) in KNOWN_EXCEPTIONS:
            continue
        allowed = ALLOWED[src].get(dst)
        if src == dst == "cli" or (allowed is not None and within(e.target, allowed)):
            continue
        out.append(f"{e} ({src} may not import {dst}"
                   + ("" if allowed is None else f" beyond {', '.join(sorted(allowed))}") + ")")
    return out


def cycles(edges: list[Edge]) -> list[list[str]]:
    """Import cycles between modules (strongly connected components of more than one
    module, or a module importing itself), each as a path that closes the loop."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        if (e.source, e.target) in KNOWN_EXCEPTIONS or e.target.endswith(".*") \
                or e.typing_only:  # never imported at run time
            continue
        graph.setdefault(e.source, set()).add(e.target)
    # Importing `a.b.c` runs `a` and `a.b` first; a package's __init__ importing its own
    # submodules is not a loop, so edges only go to the module named.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1 or v in graph.get(v, ()):
                found.append(_loop(sorted(scc), graph))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _loop(scc: list[str], graph: dict[str, set[str]]) -> list[str]:
    """One path start -> ... -> start inside a strongly connected component."""
    members, start = set(scc), scc[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph.get(v, ())):
            if w == start:
                return [*paths[v], start]
            if w in members and w not in paths:
                paths[w] = [*paths[v], w]
                queue.append(w)
    return [*scc, start]


@pytest.fixture(scope="module")
def edges() -> list[Edge]:
    return project_edges()


def test_the_sources_are_seen(edges: list[Edge]) -> None:
    sources = {e.source for e in edges}
    assert {"conformance.model.engine", "conformance.harness.session", "clusters.api",
            "clusters.emulated.controlplane"} <= sources
    assert Edge("conformance.harness.session", "clusters.api",
                "") in {Edge(e.source, e.target, "") for e in edges}  # a function-level one


def test_the_layering_holds(edges: list[Edge]) -> None:
    assert violations(edges) == []


def test_no_import_cycles(edges: list[Edge]) -> None:
    loops = [" -> ".join(c) for c in cycles(edges)]
    assert loops == []


def test_known_exceptions_are_still_needed(edges: list[Edge]) -> None:
    present = {(e.source, e.target) for e in edges}
    assert [k for k in KNOWN_EXCEPTIONS if k not in present] == []


def test_the_package_inits_stay_import_free() -> None:
    """Importing any part of the suite runs conformance/__init__.py; the vocabulary's is
    imported by everything."""
    for init in (REPO / "conformance" / "__init__.py",
                 REPO / "conformance" / "vocabulary" / "__init__.py"):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)
                    if not (isinstance(n, ast.ImportFrom) and n.module == "__future__")], init


def test_the_vocabulary_and_the_model_import_no_cluster_code() -> None:
    """Third-party libraries too: the bottom layers are pure (PyYAML only)."""
    forbidden = ("kubernetes", "grpc", "requests", "testcontainers", "pytest")
    found = []
    for package in ("vocabulary", "model"):
        for path in sorted((REPO / "conformance" / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                found += [f"{path.name}: {n}" for n in names
                          if n.split(".")[0] in forbidden]
    assert found == []


# The checker itself, on made-up trees.

def _tree(tmp_path: Path, files: dict[str, str]) -> list[Edge]:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return project_edges(tmp_path)


def test_the_checker_sees_imports_across_the_layers() -> None:
    fake = [Edge("clusters.detect", "conformance.harness.cluster", "clusters/detect.py:9"),
            Edge("conformance.harness.kube", "clusters.errors", "kube.py:144"),
            Edge("conformance.harness.kube", "clusters.api", "kube.py:145"),
            Edge("conformance.model.engine", "conformance.vocabulary.catalogue", "e.py:1"),
            Edge("conformance.vocabulary.catalogue", "conformance.model", "c.py:3"),
            Edge("workloads.prober", "conformance.vocabulary", "p.py:2")]
    got = violations(fake)
    assert [v.split(" (")[0] for v in got] == [
        "clusters/detect.py:9: clusters.detect imports conformance.harness.cluster",
        "kube.py:144: conformance.harness.kube imports clusters.errors",
        "c.py:3: conformance.vocabulary.catalogue imports conformance.model",
        "p.py:2: workloads.prober imports conformance.vocabulary"]
    assert "beyond clusters.api" in got[1]


def test_imports_of_reads_nested_relative_and_dynamic_imports(tmp_path: Path) -> None:
    edges = _tree(tmp_path, {
        "clusters/__init__.py": "", "clusters/emulated/__init__.py": "",
        "clusters/emulated/api.py": "",
        "clusters/probe.py": "import importlib\n"
                             "def f():\n    from conformance.harness import kube\n"
                             "    importlib.import_module(f'conformance.scenarios.{f}')\n"
                             "from .emulated import api\n"})
    assert sorted((e.target, e.where) for e in edges) == [
        ("clusters.emulated.api", "clusters/probe.py:5"),
        ("conformance.harness", "clusters/probe.py:3"),
        ("conformance.scenarios.*", "clusters/probe.py:4")]


def test_the_cycle_finder_reports_the_loop(tmp_path: Path) -> None:
    edges = _tree(tmp_path, {"clusters/x.py": "from clusters.y import f\n",
                             "clusters/y.py": "import clusters.z\n",
                             "clusters/z.py": "def g():\n    from clusters.x import h\n",
                             "clusters/w.py": "import clusters.x\n"})
    assert cycles(edges) == [["clusters.x", "clusters.y", "clusters.z", "clusters.x"]]

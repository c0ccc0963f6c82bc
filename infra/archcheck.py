"""Measure the package seams: import circles, upward imports and table-format branches outside ``lakehouse/table/``.

Run ``python infra/archcheck.py`` (``--json`` for machine output). ``tests/test_dependency_rules.py`` asserts the
same rules, so a change that breaks a layer fails the suite rather than a later review.

What counts:
- an *import* is any ``import``/``from ... import`` of a project module, at module level or inside a function (a lazy
  import still couples the two packages; it only hides the circle from the interpreter). Imports under
  ``if TYPE_CHECKING:`` are ignored: they exist for the type checker only.
- an *import circle* is a strongly connected component of more than one module in the graph of all imports (lazy
  ones included: a lazy import hides a circle from the interpreter, not from the reader). Edges into a root package
  (``lakehouse``, whose lazy ``__getattr__`` facade re-exports ``VectorTable``) are left out.
- an *upward import* breaks one of the rules in ``RULES``.
- a *format branch* is a test (``if``, ternary, ``match``, comparison, ``isinstance``) that tells Iceberg from Delta:
  it compares with the string ``"iceberg"``/``"delta"``, calls ``is_delta``, checks ``isinstance`` against a
  format's class, or looks a format up in a ``{"iceberg": ..., "delta": ...}`` table. Library modules outside
  ``lakehouse/table/`` that import ``pyiceberg`` or ``deltalake`` themselves are listed too.
"""

from __future__ import annotations

import ast
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("lakehouse", "jobs", "catalog")

# (importer prefix, imported prefix, why it is not allowed)
RULES: tuple[tuple[str, str, str], ...] = (
    ("lakehouse", "jobs", "the library must not import the jobs built on it"),
    ("lakehouse", "catalog", "the library talks to the catalog service over HTTP only"),
    ("lakehouse.table", "lakehouse.index", "tables know nothing of the indexes built over them"),
    ("lakehouse.table", "lakehouse.lineage", "tables know nothing of lineage"),
    ("lakehouse.table", "lakehouse.sql", "tables know nothing of SQL"),
    ("lakehouse.table", "lakehouse.embedding", "tables know nothing of the embed job"),
    ("lakehouse.spark", "lakehouse.table", "Spark plumbing (session, JVM, UDFs) sits below the table formats"),
    ("lakehouse.spark", "lakehouse.index", "Spark plumbing does not depend on indexes"),
    ("lakehouse.spark", "lakehouse.lineage", "Spark plumbing does not depend on lineage"),
    ("lakehouse.spark", "lakehouse.sql", "Spark plumbing does not depend on the SQL layer"),
    ("lakehouse.vector", "lakehouse.table", "vector validation sits below tables"),
    ("lakehouse.embed", "lakehouse.table", "embedding models sit below tables"),
    ("lakehouse.index", "lakehouse.sql", "indexes do not depend on the SQL layer"),
    ("lakehouse.index", "lakehouse.spark", "indexes do not depend on Spark"),
    ("lakehouse.lineage", "lakehouse.index", "lineage does not depend on indexes"),
    ("lakehouse.lineage", "lakehouse.sql", "lineage does not depend on the SQL layer"),
    ("lakehouse.lineage", "lakehouse.spark", "lineage does not depend on Spark"),
    ("lakehouse.sql", "lakehouse.cli", "the SQL layer does not depend on the CLI"),
    ("lakehouse.index", "lakehouse.cli", "indexes do not depend on the CLI"),
    ("lakehouse.table", "lakehouse.cli", "tables do not depend on the CLI"),
    ("catalog", "jobs", "the catalog service does not import jobs"),
)

FORMAT_WORDS = {"iceberg", "delta"}
FORMAT_LIBRARIES = {"pyiceberg", "deltalake"}
FORMAT_CLASSES = {"DeltaVectorTable", "IcebergVectorTable", "DeltaTable", "DeltaSource", "IcebergSource"}


@dataclass
class Report:
    imports: dict[str, set[str]] = field(default_factory=dict)  # module -> project modules it imports (all)
    top_imports: dict[str, set[str]] = field(default_factory=dict)  # module-level only
    circles: list[list[str]] = field(default_factory=list)
    upward: list[tuple[str, str, str]] = field(default_factory=list)
    branches: list[tuple[str, int, str]] = field(default_factory=list)  # outside lakehouse/table/
    format_imports: dict[str, set[str]] = field(
        default_factory=dict
    )  # library module outside table/ -> pyiceberg/deltalake

    def as_dict(self) -> dict[str, object]:
        return {
            "modules": len(self.imports),
            "circles": self.circles,
            "largest_circle": max((len(c) for c in self.circles), default=0),
            "upward_imports": [{"from": a, "to": b, "rule": r} for a, b, r in self.upward],
            "format_branches_outside_table": [{"file": f, "line": n, "code": c} for f, n, c in self.branches],
            "format_library_imports_outside_table": {m: sorted(v) for m, v in self.format_imports.items()},
        }


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join(base + ([node.module] if node.module else []))


class _Visitor(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool, known: set[str]) -> None:
        self.module, self.is_package, self.known = module, is_package, known
        self.all: set[str] = set()
        self.external: set[str] = set()  # top-level names of third-party packages imported
        self.top: set[str] = set()
        self.depth = 0  # > 0 inside a function body
        self.branches: list[tuple[int, str]] = []
        self.source_lines: list[str] = []

    def _target(self, name: str) -> str | None:
        while name:
            if name in self.known:
                return name
            name = name.rpartition(".")[0]
        return None

    def _add(self, names: list[str]) -> None:
        for n in names:
            self.external.add(n.partition(".")[0])
            t = self._target(n)
            if t and t != self.module:
                self.all.add(t)
                if not self.depth:
                    self.top.add(t)

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for n in node.orelse:
                self.visit(n)
            return
        self._branch(node.test, node.lineno)
        self.generic_visit(node)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self._branch(node.test, node.lineno)
        self.generic_visit(node)

    def visit_Match(self, node: ast.Match) -> None:
        for case in node.cases:
            if any(isinstance(c, ast.Constant) and c.value in FORMAT_WORDS for c in ast.walk(case.pattern)):
                self._record(node.lineno)
                break
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:  # {"iceberg": A, "delta": B}[fmt] is a branch too
        keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
        if FORMAT_WORDS <= keys:
            self._record(node.lineno)
        self.generic_visit(node)

    def _branch(self, test: ast.expr, line: int) -> None:
        for n in ast.walk(test):
            if isinstance(n, ast.Compare) and any(
                isinstance(c, ast.Constant) and c.value in FORMAT_WORDS for c in [n.left, *n.comparators]
            ):
                return self._record(line)
            if isinstance(n, ast.Call):
                fn = n.func
                name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else ""
                if name in {"is_delta", "is_iceberg"}:
                    return self._record(line)
                if name == "isinstance" and len(n.args) == 2:
                    if any(
                        isinstance(c, (ast.Name, ast.Attribute)) and _last(c) in FORMAT_CLASSES
                        for c in ast.walk(n.args[1])
                    ):
                        return self._record(line)
            if isinstance(n, ast.Call) and _last(n.func) == "get" and n.args:
                a = n.args[0]
                if isinstance(a, ast.Constant) and a.value in FORMAT_WORDS:
                    return self._record(line)
        return None

    def _record(self, line: int) -> None:
        code = self.source_lines[line - 1].strip() if line - 1 < len(self.source_lines) else ""
        self.branches.append((line, code))

    def visit_Import(self, node: ast.Import) -> None:
        self._add([a.name for a in node.names])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = _resolve(self.module, self.is_package, node)
        self._add([f"{base}.{a.name}" for a in node.names] + [base])

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]


def _last(node: ast.AST) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def _is_type_checking(test: ast.expr) -> bool:
    return _last(test) == "TYPE_CHECKING"


def _sccs(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively (the suite imports this module: it must not raise the
    interpreter's recursion limit, which changes how deep sqlglot may parse in every later test)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return sorted(out, key=lambda c: (-len(c), c))


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def analyse(root: Path = ROOT) -> Report:
    files = [p for pkg in PACKAGES for p in sorted((root / pkg).rglob("*.py"))]
    known = {module_name(p) for p in files}
    report = Report()
    for path in files:
        mod = module_name(path)
        text = path.read_text()
        v = _Visitor(mod, path.name == "__init__.py", known)
        v.source_lines = text.splitlines()
        v.visit(ast.parse(text, filename=str(path)))
        report.imports[mod] = v.all
        report.top_imports[mod] = v.top
        rel = str(path.relative_to(root))
        if not rel.startswith("lakehouse/table/"):
            report.branches.extend((rel, line, code) for line, code in v.branches)
            if rel.startswith("lakehouse/") and v.external & FORMAT_LIBRARIES:
                report.format_imports[mod] = v.external & FORMAT_LIBRARIES
    # the root package's lazy facade (``lakehouse.VectorTable``) is not a dependency of the modules that import
    # ``lakehouse`` for its version or settings
    graph = {m: {t for t in ts if t not in PACKAGES} for m, ts in report.imports.items()}
    report.circles = _sccs(graph)
    for mod, targets in sorted(report.imports.items()):
        for t in sorted(targets):
            for src, dst, why in RULES:
                if _under(mod, src) and _under(t, dst) and not _under(t, src):
                    report.upward.append((mod, t, why))
                    break
    return report


def main(argv: list[str]) -> int:
    r = analyse()
    if "--json" in argv:
        print(json.dumps(r.as_dict(), indent=2))
        return 0
    print(f"{len(r.imports)} modules")
    print(f"import circles: {len(r.circles)} (largest {max((len(c) for c in r.circles), default=0)} modules)")
    for c in r.circles:
        print(f"  [{len(c)}] " + ", ".join(c))
    print(f"upward imports: {len(r.upward)}")
    for a, b, why in r.upward:
        print(f"  {a} -> {b}  ({why})")
    files = sorted({f for f, _, _ in r.branches})
    print(f"format branches outside lakehouse/table/: {len(r.branches)} in {len(files)} files")
    for f, n, code in r.branches:
        print(f"  {f}:{n}: {code}")
    print(f"library modules outside lakehouse/table/ importing pyiceberg/deltalake: {len(r.format_imports)}")
    for m, libs in sorted(r.format_imports.items()):
        print(f"  {m}: {', '.join(sorted(libs))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

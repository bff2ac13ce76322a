"""The import rules of `registro` (ARCHITECTURE.md, "habits borrowed"): features → kernel → platform,
and nothing below the web layer imports the container. The layout shows the design: feature packages
(registration, documents, review, recovery, applicant), each with its views, forms and services; a kernel
of what features share; a platform floor; operator commands in ops/. Read from the source with `ast` (every import,
function-level ones included), so a rule broken anywhere fails here.

Every rule holds strictly: no module of `registro` is in an import cycle, the floor (domain, adapters, the
file check) and the layers above it import nothing above themselves, and the only modules that reach the
container are the ones that answer HTTP. (The debts listed when the rules were written are paid: a
check's child code is named to the sandbox by the feature, the responsiva's QR key is passed in, an
email's status link is made by its caller, the counters live apart from the /metrics endpoint.)
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "services" / "registro"
ROOT = "registro"

FEATURES = ("registro.registration", "registro.documents", "registro.review", "registro.recovery",
            "registro.applicant")
TOP = ("registro.web", "registro.ops", "registro.container", "registro.background")
FLOOR = ("registro.domain", "registro.adapters", "registro.filecheck")
# What each layer must never import (prefixes of module names): features → kernel → platform → floor.
FORBIDDEN = {
    "registro.platform": ("registro.kernel", *FEATURES, *TOP),
    "registro.kernel": (*FEATURES, *TOP),
    **{floor: ("registro.platform", "registro.kernel", "registro.observability", *FEATURES, *TOP) for floor in FLOOR},
}
# The modules that answer HTTP (and so may reach the container): the shared web package, each feature's
# views and forms, and the console's login, logout and viewer endpoints. Everything else is below the web layer.
WEB_MODULES = ("registro.review.console_auth", "registro.review.backchannel_logout", "registro.review.viewer",
               "registro.documents.uploads")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str] | frozenset[str] = frozenset()) -> set[str]:
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(ROOT))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith(ROOT):
                # `from . import x` imports the module x (its package's __init__ runs already, whoever imports)
                submodules = {f"{target}.{a.name}" for a in node.names} & set(modules)
                found.update(submodules)
                if len(submodules) < len(node.names):
                    found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {i for i in imports_of(path, set(modules)) if i in modules and i != name}
            for name, path in modules.items()}


def test_each_layer_imports_nothing_above_it():
    broken = [(m, i) for m, deps in graph().items() for layer, banned in FORBIDDEN.items()
              if m.startswith(layer) for i in deps if i.startswith(banned)]
    assert broken == []


def below_web(module: str) -> bool:
    if module.startswith(("registro.platform", "registro.kernel", "registro.domain", "registro.adapters",
                          "registro.filecheck")):
        return True
    return (module.startswith(FEATURES) and not module.rsplit(".", 1)[-1].endswith(("views", "forms"))
            and module not in WEB_MODULES and not module.endswith("__init__"))


def test_nothing_below_the_web_layer_imports_the_container():
    found = {(m, i) for m, deps in graph().items() if below_web(m) for i in deps if i == "registro.container"}
    assert found == set()


def import_cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iteratively):
    each is a set of modules that import one another, directly or around a loop."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(g):
        if root in index:
            continue
        work = [(root, iter(sorted(g[root])))]
        index[root] = low[root] = len(index)
        stack.append(root), on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt), on_stack.add(nxt)
                    work.append((nxt, iter(sorted(g.get(nxt, ())))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
    return cycles


def test_no_module_is_in_an_import_cycle():
    assert import_cycles(graph()) == []


def test_a_cycle_is_found_however_long_its_loop():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e2"}, "e2": {"e"}, "f": {"a"}}
    assert sorted(import_cycles(g)) == [["a", "b", "c"], ["e", "e2"]]
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_layout_is_feature_packages_over_a_kernel_and_a_platform():
    top = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert {f.split(".")[1] for f in FEATURES} | {"kernel", "platform", "ops", "web"} <= top
    assert not {"workflow", "forms"} & top, "the flat rooms are gone: code lives in its feature"

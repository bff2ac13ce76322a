"""The import rules of `registro` (ARCHITECTURE.md, "habits borrowed"): features → kernel → platform,
and nothing below the web layer imports the container. The layout shows the design: feature packages
(registration, documents, review, recovery, applicant), each with its views, forms and services; a kernel
of what features share; a platform floor; operator commands in ops/. Read from the source with `ast` (every import,
function-level ones included), so a rule broken anywhere fails here.

The layers that exist since issue 20 (`platform/`, `kernel/`) hold strictly. For the older modules the
debts found when the rules were written are listed by name in KNOWN_*: a new one fails, and so does a
listed one that was paid off (remove it from the list), so the lists only shrink.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "services" / "registro"
ROOT = "registro"

FEATURES = ("registro.registration", "registro.documents", "registro.review", "registro.recovery",
            "registro.applicant")
TOP = ("registro.web", "registro.ops", "registro.container", "registro.background")
# What each layer must never import (prefixes of module names): features → kernel → platform.
FORBIDDEN = {
    "registro.platform": ("registro.kernel", *FEATURES, *TOP),
    "registro.kernel": (*FEATURES, *TOP),
}
# The modules that answer HTTP (and so may reach the container): the shared web package, each feature's
# views and forms, and the console's login, logout and viewer endpoints. Everything else is below the web layer.
WEB_MODULES = ("registro.review.console_auth", "registro.review.backchannel_logout", "registro.review.viewer",
               "registro.documents.uploads")
KNOWN_CONTAINER_IMPORTS = {
    ("registro.registration.responsiva", "registro.container"),  # the QR's key: to be passed in by the caller
}
KNOWN_CYCLES: set[frozenset[str]] = set()  # filled below from what the rules found: see the test


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


def test_platform_and_kernel_import_nothing_above_them():
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
    assert found - KNOWN_CONTAINER_IMPORTS == set(), "new import of the container below the web layer"
    assert KNOWN_CONTAINER_IMPORTS - found == set(), "paid off: remove it from KNOWN_CONTAINER_IMPORTS"


def test_platform_and_kernel_are_in_no_import_cycle():
    g = graph()

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            current = todo.pop()
            for nxt in g.get(current, ()):
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    layered = [m for m in g if m.startswith(("registro.platform", "registro.kernel"))]
    assert [m for m in layered if reaches(m, m)] == []


def test_the_layout_is_feature_packages_over_a_kernel_and_a_platform():
    top = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert {f.split(".")[1] for f in FEATURES} | {"kernel", "platform", "ops", "web"} <= top
    assert not {"workflow", "forms"} & top, "the flat rooms are gone: code lives in its feature"

"""A stack left running says when the tree's service code has changed since it started (tools/stack/code_version.py)."""
from __future__ import annotations

from pathlib import Path

from tools.stack import code_version


def _tree(root: Path, source: str) -> Path:
    (root / "services" / "registro").mkdir(parents=True)
    (root / "keycloak_ext").mkdir()
    (root / "services" / "registro" / "views.py").write_text(source)
    return root


def test_a_running_service_started_from_other_code_is_named(tmp_path):
    root = _tree(tmp_path / "arbol", "def view(): return 1\n")
    pids = tmp_path / "pids"
    pids.mkdir()
    for name in ("registro", "modulo"):
        (pids / f"{name}.pid").write_text("1234")
        code_version.record_path(pids, name).write_text(code_version.digest(root))
    assert code_version.stale_services(pids, root) == []

    (root / "services" / "registro" / "views.py").write_text("def view(): return 2\n")
    assert code_version.stale_services(pids, root) == ["modulo", "registro"]

    (pids / "modulo.pid").unlink()  # stopped: nothing to warn about
    assert code_version.stale_services(pids, root) == ["registro"]


def test_compiled_files_and_caches_do_not_count(tmp_path):
    root = _tree(tmp_path / "arbol", "x = 1\n")
    before = code_version.digest(root)
    cache = root / "services" / "registro" / "__pycache__"
    cache.mkdir()
    (cache / "views.cpython-311.pyc").write_bytes(b"\0\1")
    assert code_version.digest(root) == before
    (root / "services" / "registro" / "templates.html").write_text("<p>{{ x }}</p>")
    assert code_version.digest(root) != before

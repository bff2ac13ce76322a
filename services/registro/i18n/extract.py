"""Babel extractor for the Spanish messages that modules written without gettext hold as plain literals.

The forms, the domain rules and the views build their applicant-facing messages as ordinary
Spanish strings (the domain stays free of Flask and of gettext); the templates translate them
when they are shown (`|tr`). This extractor puts those literals in the catalog so that the
catalog test sees each one and asks for its English. It takes a string literal that reads like
text for a person: it starts with a capital letter, «, ¿ or ¡ and has a lower-case letter; it
skips docstrings, the parts of f-strings (composed at run time, they stay Spanish), logging
calls, and identifier-like values (header names, paths, zone names).
"""
from __future__ import annotations

import ast
import re
from typing import Iterator

_LOG_METHODS = frozenset({"debug", "info", "warning", "error", "exception", "critical", "log"})
_NOT_TEXT_CALLS = frozenset({"set_cookie", "compile"})  # cookie attributes, regular expressions
_IDENTIFIER_LIKE = re.compile(r"^[\w./:-]+$")


def is_message(text: str) -> bool:
    text = text.strip()
    if not text or not (text[0].isupper() or text[0] in "«¿¡"):
        return False
    if not any(c.islower() for c in text):
        return False
    if _IDENTIFIER_LIKE.match(text) and any(c in text for c in "/_-:."):
        return False
    return True


def _skipped_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            skipped.update(id(n) for n in ast.walk(node))
        elif isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                skipped.add(id(body[0].value))
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in _LOG_METHODS or name in ("limit", "route", "get", "post", "Blueprint", "ZoneInfo"):
                skipped.update(id(n) for arg in node.args for n in ast.walk(arg))
            if name in _NOT_TEXT_CALLS:
                skipped.update(id(n) for arg in [*node.args, *node.keywords] for n in ast.walk(arg))
    return skipped


def literals(source: str) -> Iterator[tuple[int, str]]:
    tree = ast.parse(source)
    skipped = _skipped_nodes(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped:
            if is_message(node.value):
                yield node.lineno, node.value


def extract_literals(fileobj, keywords, comment_tags, options):
    """Babel extraction method (see babel.cfg)."""
    source = fileobj.read().decode(options.get("encoding", "utf-8"))
    for lineno, text in literals(source):
        yield lineno, None, text, []

"""The import graph, read from the source with ``ast``: bot uses rag only through the ``rag``
package's public API, and rag never reaches for bot or Slack's SDKs.

Every import form counts: ``import x``, ``from x import y``, relative imports, imports inside
functions or ``if TYPE_CHECKING:`` blocks, and ``importlib.import_module("x")`` /
``__import__("x")`` with a literal name.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_RAG = ("bot", "slack_bolt", "slack_sdk")


@dataclass(frozen=True)
class Import:
    """One module a source file imports, and where."""

    module: str
    where: str

    def __str__(self) -> str:
        return f"{self.where}: {self.module}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module a (possibly relative) ``from ... import`` names."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _dynamic_import(node: ast.Call) -> str | None:
    """The literal module name of ``importlib.import_module("x")`` or ``__import__("x")``."""
    func = node.func
    named = (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id in ("import_module", "__import__")
    )
    if named and node.args and isinstance(node.args[0], ast.Constant):
        value = node.args[0].value
        return value if isinstance(value, str) else None
    return None


def imports_in(source: str, module: str, *, is_package: bool = False) -> Iterator[Import]:
    """Every module that ``source`` (the text of ``module``) imports.

    ``from p import name`` yields ``p`` and ``p.name``: ``name`` may be a submodule
    (``from rag import settings``); callers tell submodules from attributes.
    """
    for node in ast.walk(ast.parse(source)):
        where = f"{module}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            yield from (Import(alias.name, where) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node, module, is_package)
            yield Import(base, where)
            yield from (Import(f"{base}.{alias.name}", where) for alias in node.names)
        elif isinstance(node, ast.Call) and (name := _dynamic_import(node)):
            yield Import(name, where)


def imports_of(path: Path) -> Iterator[Import]:
    """Every module the file at ``path`` (under the repository) imports."""
    source = path.read_text(encoding="utf-8")
    return imports_in(source, _module_name(path), is_package=path.name == "__init__.py")


def sources(package: str) -> list[Path]:
    """The package's Python files."""
    return sorted((REPO / package).rglob("*.py"))


def is_rag_module(name: str) -> bool:
    """True when ``name`` is a module or package under rag/ (not a name it exports)."""
    relative = Path(*name.split("."))
    return (REPO / relative).with_suffix(".py").is_file() or (REPO / relative).is_dir()


def rag_submodules_imported_by_bot() -> list[Import]:
    """bot's imports of rag submodules (``rag.x``, ``from rag import x`` where x is a module)."""
    return [
        found
        for path in sources("bot")
        for found in imports_of(path)
        if found.module.startswith("rag.") and is_rag_module(found.module)
    ]


def test_the_walk_sees_every_import_form() -> None:
    source = (
        "import os.path as p\n"
        "from .. import settings\n"
        "from ._highlight import render_page_png\n"
        "if TYPE_CHECKING:\n"
        "    from rag.types import Hit\n"
        "def later():\n"
        "    from bot.render import x\n"
        "    import importlib\n"
        "    importlib.import_module('slack_sdk.web')\n"
        "    __import__('slack_bolt')\n"
    )
    found = {i.module for i in imports_in(source, "rag.answer._probe")}
    assert {"os.path", "rag.settings", "rag.answer._highlight", "rag.types"} <= found
    assert {"bot.render", "slack_sdk.web", "slack_bolt", "importlib"} <= found
    package = {i.module for i in imports_in("from . import errors", "rag", is_package=True)}
    assert "rag.errors" in package
    assert is_rag_module("rag.settings") and is_rag_module("rag.answer")
    assert not is_rag_module("rag.Settings")


def test_rag_never_imports_bot_or_slacks_sdks() -> None:
    offending = [
        str(found)
        for path in sources("rag")
        for found in imports_of(path)
        if found.module.split(".")[0] in FORBIDDEN_IN_RAG
    ]
    assert offending == []


def test_bot_imports_rag_only_through_the_package() -> None:
    assert [str(found) for found in rag_submodules_imported_by_bot()] == []

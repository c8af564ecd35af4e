"""The import lint: arrows point one way, cli -> devnet -> node.server -> node.store -> node.ledger,
and node -> {consensus, p2p}. consensus/ is a pure state machine and node.ledger is pure rules.

Every `import` and `from ... import` in a package (at any depth, lazy imports inside functions
included) is read with `ast`, resolved to an absolute module name and checked against what that
layer may not import.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# layer (a package prefix) -> module prefixes it must never import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "consensus": ("node", "p2p", "cli", "devnet", "asyncio", "socket", "aiohttp", "plyvel", "time",
                  "os", "threading"),
    "p2p": ("node", "cli", "devnet", "plyvel"),
    "node.ledger": ("node.store", "node.server", "p2p", "consensus", "cli", "devnet", "asyncio",
                    "aiohttp", "plyvel", "socket", "time"),
    "node.store": ("node.server", "p2p", "cli", "devnet", "asyncio", "aiohttp"),
    "node.server": ("cli", "devnet"),
    "devnet": ("cli",),
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every import in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = module_name(path, root).split(".")
    if path.name != "__init__.py":
        here = here[:-1]  # the package a relative import starts from
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    return found


def violations(layer: str, root: Path = ROOT) -> list[str]:
    folder = root.joinpath(*layer.split("."))
    bad = []
    for path in sorted(folder.rglob("*.py")):
        for line, target in imports_of(path, root):
            for banned in FORBIDDEN[layer]:
                if target == banned or target.startswith(banned + "."):
                    bad.append(f"{path.relative_to(root)}:{line} imports {target}")
    return bad


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_point_one_way(layer: str) -> None:
    assert violations(layer) == []


def test_the_lint_sees_a_violation(tmp_path: Path) -> None:
    """The lint itself can fail: a ledger module that imports the server, lazily and relatively,
    is reported."""
    (tmp_path / "node" / "ledger").mkdir(parents=True)
    (tmp_path / "node" / "ledger" / "bad.py").write_text(
        "def f():\n    from node.server import daemon\n    from ..server.api import x\n")
    assert violations("node.ledger", tmp_path) == [
        "node/ledger/bad.py:2 imports node.server",
        "node/ledger/bad.py:2 imports node.server.daemon",
        "node/ledger/bad.py:3 imports node.server.api",
        "node/ledger/bad.py:3 imports node.server.api.x"]

"""p2p knows bytes and peer ids, not ledger rules: it never imports node/, consensus/ or cli/."""

from __future__ import annotations

import ast
from pathlib import Path

import p2p

FORBIDDEN = {"node", "consensus", "cli"}
ALLOWED_THIRD_PARTY = {"msgpack", "nacl", "aiohttp"}


def imported_top_level_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


def test_p2p_imports_only_the_stdlib_and_its_allowed_dependencies():
    import sys

    for path in Path(p2p.__file__).parent.glob("*.py"):
        modules = imported_top_level_modules(path)
        assert not modules & FORBIDDEN, f"{path.name} imports {modules & FORBIDDEN}"
        others = modules - ALLOWED_THIRD_PARTY - set(sys.stdlib_module_names) - {"__future__"}
        assert not others, f"{path.name} imports {others}"

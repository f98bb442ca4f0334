"""The layers of ARCHITECTURE.md, checked: no module imports a higher layer (function-level
imports included), so the structure a reader is told about is the one the code has."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "src" / "tailorlm"
LAYERS = {
    **dict.fromkeys(("errors", "types", "paths", "hardware", "display"), 0),
    **dict.fromkeys(("config", "costs", "tasks", "metrics"), 1),
    "backends": 2,
    **dict.fromkeys(("prompting", "finetune", "evaluation", "store", "system"), 3),
    **dict.fromkeys(
        (
            "experiments",
            "optimize",
            "training",
            "remote_training",
            "learning_curve",
            "compare",
            "migrate",
            "labelling",
        ),
        4,
    ),
    **dict.fromkeys(("report", "advisor", "verdict", "tracking"), 5),
    **dict.fromkeys(("server", "cli", "__main__"), 6),
}
# Entry points run as `python -m`: they may reach the top layer.
ENTRY_POINTS = {"finetune/__main__.py"}


def _part(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "tailorlm" and len(parts) > 1 else None


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def _files() -> list[Path]:
    files = PACKAGE.rglob("*.py")
    return sorted(p for p in files if p.name != "__init__.py" or p.parent != PACKAGE)


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_higher_layer(path):
    rel = path.relative_to(PACKAGE)
    own = rel.parts[0].removesuffix(".py")
    assert own in LAYERS, f"{rel}: add its top-level name to LAYERS"
    if str(rel) in ENTRY_POINTS:
        return
    upward = [
        f"line {line}: {module} (L{LAYERS[part]}) from L{LAYERS[own]}"
        for line, module in _imports(path)
        if (part := _part(module)) in LAYERS and LAYERS[part] > LAYERS[own]
    ]
    assert upward == [], f"{rel} imports a higher layer"

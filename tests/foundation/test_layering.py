"""Imports inside src/dockyard point down the layers only; only cli/ imports click or rich."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "dockyard"

# Lowest first. A package may import its own layer's modules only when they are the
# same package, and any layer below. The foundation modules are importable by all.
LAYERS: list[set[str]] = [
    {"errors", "progress", "_version", "_home", "_httpx", "__init__"},
    {"oci"},
    {"image"},
    {"registry", "store"},
    {"transport"},
    {"dockerfile"},
    {"build"},
    {"scan", "lint", "analyze"},
    {"cli"},
    {"__main__"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
UI_LIBRARIES = {"click", "rich"}


def _package_of(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = list(path.relative_to(SRC).parent.parts)
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                found.append(
                    (
                        node.lineno,
                        ".".join(["dockyard", *base, *(node.module or "").split(".")]).rstrip("."),
                    )
                )
            elif node.module:
                found.append((node.lineno, node.module))
    return found


SOURCES = sorted(SRC.rglob("*.py"))


def test_every_package_has_a_rank() -> None:
    for path in SOURCES:
        assert _package_of(path) in RANK, f"{path}: add its package to LAYERS in {__file__}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_point_down(path: Path) -> None:
    own = _package_of(path)
    problems = []
    for line, module in _imports(path):
        top = module.split(".")[0]
        if top in UI_LIBRARIES and own != "cli":
            problems.append(f"{path.name}:{line}: imports {module}; only cli/ may")
        if top != "dockyard":
            continue
        parts = module.split(".")
        target = parts[1] if len(parts) > 1 else "__init__"
        if target == own or RANK[own] == 0:
            continue
        if RANK[target] >= RANK[own]:
            problems.append(
                f"{path.relative_to(SRC)}:{line}: {own} imports {module} ({target} is not below)"
            )
    assert not problems, "\n".join(problems)


def test_every_module_starts_with_a_docstring() -> None:
    missing = [
        str(p.relative_to(SRC))
        for p in SOURCES
        if ast.get_docstring(ast.parse(p.read_text())) is None
    ]
    assert not missing, f"modules without a one-line docstring: {missing}"

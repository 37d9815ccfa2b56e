"""Lint 500 Dockerfiles with dockyard and with hadolint (per file, and all in one call)."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "dockerfiles"
VENV_BIN = Path(sys.executable).parent
COUNT = 500

MUTATIONS = (
    lambda t: t,
    lambda t: t.replace("apt-get install -y", "apt-get install -y --no-install-recommends"),
    lambda t: t + "\nRUN apk add curl | cat\n",
    lambda t: t.replace("FROM ", "FROM --platform=linux/amd64 ", 1),
    lambda t: t + "\nUSER root\nCMD run --flag\n",
    lambda t: t + "\nRUN pip install flask && cd /tmp\nRUN npm install express\n",
)


def make_tree(target: Path) -> list[Path]:
    sources = [
        p
        for p in sorted(CORPUS.rglob("*"))
        if p.is_file() and p.name.startswith("Dockerfile") and not p.name.endswith("template")
    ]
    rng = random.Random(7)
    files = []
    for i in range(COUNT):
        src = sources[i % len(sources)]
        text = rng.choice(MUTATIONS)(src.read_text())
        path = target / f"svc{i:03d}" / "Dockerfile"
        path.parent.mkdir(parents=True)
        path.write_text(text)
        files.append(path)
    return files


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, capture_output=True, check=False)
    return time.perf_counter() - start


def main() -> None:
    hadolint = shutil.which("hadolint") or str(VENV_BIN / "hadolint")
    dockyard = shutil.which("dockyard") or str(VENV_BIN / "dockyard")
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp)
        files = make_tree(tree)
        rel = [str(f.relative_to(tree)) for f in files]
        ours = min(timed([dockyard, "lint", "--no-fail", "."], tree) for _ in range(3))
        ours_json = timed([dockyard, "lint", "--no-fail", "--format", "json", "."], tree)
        start = time.perf_counter()
        for f in rel:
            subprocess.run([hadolint, "--no-fail", f], cwd=tree, capture_output=True, check=False)
        per_file = time.perf_counter() - start
        one_call = min(timed([hadolint, "--no-fail", *rel], tree) for _ in range(2))
    print(f"{COUNT} Dockerfiles")
    print(f"dockyard lint (one process):        {ours:7.2f} s  (json: {ours_json:.2f} s)")
    print(f"hadolint, one process per file:     {per_file:7.2f} s  ratio {ours / per_file:.3f}")
    print(f"hadolint, all files in one call:    {one_call:7.2f} s  ratio {ours / one_call:.3f}")
    print("target: ratio <= 0.5 against both")


if __name__ == "__main__":
    main()

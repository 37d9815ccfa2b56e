"""Differential build cases: dockyard's image against BuildKit's recorded result."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BASE_REF = "dybase:1"


def load_dycases(shared: Path) -> ModuleType:
    """The shared comparison code (tree of merged layers, config keys), used as is."""
    spec = importlib.util.spec_from_file_location("dycases", shared / "tools" / "dycases.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def git_modes(root: Path) -> None:
    """Give a read-only copy of a case the modes a git checkout has (0644/0755 files, 0755 dirs)."""
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            path = Path(dirpath, name)
            if path.is_symlink():
                continue
            mode = path.stat().st_mode
            path.chmod(0o755 if mode & stat.S_IXUSR else 0o644)
        for name in dirnames:
            os.chmod(Path(dirpath, name), 0o755)


@dataclass(frozen=True)
class Case:
    """One build case: a context and what to pass to the build."""

    name: str
    directory: Path

    def prepare(self, workdir: Path) -> tuple[Path, list[str]]:
        ctx = workdir / "ctx"
        shutil.copytree(self.directory / "ctx", ctx, symlinks=True)
        git_modes(ctx)
        prepare = self.directory / "prepare.sh"
        if prepare.exists():
            subprocess.run(["sh", str(prepare)], cwd=ctx, check=True)
        args: list[str] = []
        argfile = self.directory / "args"
        if argfile.exists():
            for line in argfile.read_text().splitlines():
                if line.strip():
                    args += ["--build-arg", line.strip()]
        args += ["--build-arg", f"BASE={BASE_REF}"]
        target = self.directory / "target"
        if target.exists():
            args += ["--target", target.read_text().strip()]
        flags = self.directory / "flags"
        if flags.exists():  # extra CLI flags; {work} is the case's scratch directory
            for line in flags.read_text().splitlines():
                args += line.replace("{work}", str(workdir)).split()
        return ctx, args

    def expected(self, base_tree: list[dict[str, Any]]) -> dict[str, Any]:
        """BuildKit's recorded result, or the base image changed by a hand-written delta."""
        full = self.directory / "expected.json"
        if full.exists():
            data: dict[str, Any] = json.loads(full.read_text())
            return data
        delta = json.loads((self.directory / "expected-delta.json").read_text())
        tree = {e["path"]: e for e in base_tree}
        for path in delta.get("remove", []):
            tree = {p: e for p, e in tree.items() if p != path and not p.startswith(path + "/")}
        for entry in delta["add"]:
            tree[entry["path"]] = entry
        return {"tree": [tree[p] for p in sorted(tree)], "config": delta["config"]}


def discover(root: Path) -> list[Case]:
    if not root.is_dir():
        return []
    return [
        Case(p.name, p)
        for p in sorted(root.iterdir())
        if (p / "ctx").is_dir()
        and ((p / "expected.json").exists() or (p / "expected-delta.json").exists())
    ]


@pytest.fixture(scope="session")
def dycases(shared_dir: Path) -> ModuleType:
    return load_dycases(shared_dir)


@pytest.fixture(scope="session")
def base_tree(dycases: ModuleType, busybox_oci: Path) -> list[dict[str, Any]]:
    """The busybox image's filesystem, as the comparison code sees it."""
    index = json.loads((busybox_oci / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((busybox_oci / "blobs" / "sha256" / digest).read_text())
    layers = [
        str(busybox_oci / "blobs" / "sha256" / layer["digest"].split(":")[1])
        for layer in manifest["layers"]
    ]
    tree: list[dict[str, Any]] = dycases.tree_from_layers(layers)
    return tree

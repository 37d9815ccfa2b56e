"""Every differential case builds to the same filesystem and config as BuildKit's.

Cases come from ``../shared/conformance/build-cases`` (BuildKit's recorded results) and from
``cases/`` beside this file (dockyard's own, recorded with the same oracle tool).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from click.testing import CliRunner

from dockyard.cli import app
from tests.build_cases.conftest import BASE_REF, Case, discover
from tests.conftest import SHARED

pytestmark = [
    pytest.mark.runc,
    # the shared comparison code leaves layer files for the garbage collector to close
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

CASES = discover(SHARED / "conformance" / "build-cases") + discover(Path(__file__).parent / "cases")


def build_case(case: Case, tmp_path: Path, busybox_oci: Path) -> tuple[Path, Path]:
    ctx, args = case.prepare(tmp_path)
    oci = tmp_path / "oci"
    rootfs = tmp_path / "rootfs"
    common = ["build", "--network", "none", "--progress", "plain",
              "--build-context", f"{BASE_REF}=oci-layout://{busybox_oci}:1", *args]  # fmt: skip
    for output in (f"type=oci,dest={oci},tar=false", f"type=local,dest={rootfs}"):
        result = CliRunner().invoke(app, [*common, "--output", output, str(ctx)])
        assert result.exit_code == 0, result.output
    return oci, rootfs


def image_tree(oci: Path, dycases: ModuleType) -> dict[str, object]:
    def blob(digest: str) -> dict[str, object]:
        algorithm, hexpart = digest.split(":")
        data: dict[str, object] = json.loads((oci / "blobs" / algorithm / hexpart).read_text())
        return data

    index = json.loads((oci / "index.json").read_text())
    manifest = blob(index["manifests"][0]["digest"])
    if "manifests" in manifest:
        manifest = blob(manifest["manifests"][0]["digest"])  # type: ignore[index]
    config = blob(manifest["config"]["digest"])  # type: ignore[index]
    layers = [
        str(oci / "blobs" / Path(*layer["digest"].split(":"))) for layer in manifest["layers"]
    ]  # type: ignore[union-attr]
    return {
        "tree": dycases.tree_from_layers(layers),
        "config": dycases.norm_config(config.get("config")),
    }


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_case_matches_buildkit(
    case: Case,
    tmp_path: Path,
    busybox_oci: Path,
    dycases: ModuleType,
    base_tree: list[dict[str, Any]],
) -> None:
    oci, rootfs = build_case(case, tmp_path, busybox_oci)
    got = image_tree(oci, dycases)
    expected = case.expected(base_tree)
    (tmp_path / "got.json").write_text(json.dumps(got, indent=1, sort_keys=True))
    assert got["config"] == expected["config"]
    got_tree = {e["path"]: e for e in got["tree"]}  # type: ignore[attr-defined]
    want_tree = {e["path"]: e for e in expected["tree"]}
    differences = [
        f"{path}: dockyard {got_tree.get(path)} != buildkit {want_tree.get(path)}"
        for path in sorted(set(got_tree) | set(want_tree))
        if got_tree.get(path) != want_tree.get(path)
    ]
    assert not differences, "\n".join(differences[:30])
    # The local export holds the same paths as the image's layers.
    exported = {
        "/" + os.path.relpath(os.path.join(d, n), rootfs)
        for d, ds, fs in os.walk(rootfs)
        for n in ds + fs
    }
    assert exported == set(got_tree) | (exported & {"/dev", "/proc", "/sys"})

"""Fixtures for the build engine's lower half: the busybox layer as a tarball and a lower dir."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dockyard.build.executor import find_runc
from dockyard.build.snapshot import extract_layer


@pytest.fixture(autouse=True)
def _require_runc(request: pytest.FixtureRequest) -> None:
    """Tests marked ``runc`` fail (never skip) when runc, root or overlayfs is missing."""
    if request.node.get_closest_marker("runc") is None:
        return
    if find_runc() is None:
        pytest.fail("runc is not installed: run scripts/setup (it apt-installs runc)")
    if os.geteuid() != 0:
        pytest.fail("runc tests need root")


@pytest.fixture(scope="session")
def busybox_layer_tar(busybox_oci: Path) -> Path:
    """The single gzip layer of the busybox image, found through index.json and the manifest."""
    index = json.loads((busybox_oci / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"].split(":", 1)[1]
    manifest = json.loads((busybox_oci / "blobs" / "sha256" / manifest_digest).read_text())
    layer_digest = manifest["layers"][0]["digest"].split(":", 1)[1]
    return busybox_oci / "blobs" / "sha256" / layer_digest


@pytest.fixture(scope="session")
def busybox_lower(busybox_layer_tar: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The busybox layer extracted once as a (read-only by convention) lower directory."""
    dest = tmp_path_factory.mktemp("busybox") / "layer"
    extract_layer(busybox_layer_tar, dest)
    return dest

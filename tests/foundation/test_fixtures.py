"""The shared fixtures work: a real registry answers, the base image is there."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx

from tests.conftest import Registry


def test_registry_answers(registry: Registry) -> None:
    response = httpx.get(f"{registry.url}/v2/")
    assert response.status_code == 200
    assert response.headers["docker-distribution-api-version"] == "registry/2.0"


def test_busybox_layout_has_tag_1(busybox_oci: Path) -> None:
    index = json.loads((busybox_oci / "index.json").read_text())
    names = [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]]
    assert "1" in names


def test_home_is_isolated(dockyard_home: Path) -> None:
    assert os.environ["DOCKYARD_HOME"] == str(dockyard_home)
    assert dockyard_home.is_dir()

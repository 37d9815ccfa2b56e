"""The shared build cache end to end: registry, local and inline caches, faults, fallbacks."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from dockyard.build.cache_io import (
    CACHE_CONFIG_MEDIA_TYPE,
    ArtifactImage,
    cache_artifact,
    decode_records,
)
from dockyard.cli import app
from dockyard.image import Image
from dockyard.image.layout import LayoutSink, OCILayout
from dockyard.oci import Digest
from dockyard.store.store import Store
from tests.conftest import Registry, free_port
from tests.registry.faultproxy import Fault, FaultProxy

pytestmark = [pytest.mark.runc, pytest.mark.registry]

BASE = "dybase:1"
SDE = "1700000000"

SERVICE = f"""FROM {BASE} AS build
WORKDIR /src
COPY go.mod ./
RUN cat go.mod > /deps.txt
COPY main.go ./
RUN cat main.go > /app.txt
FROM {BASE}
COPY --from=build /deps.txt /app.txt /srv/
RUN echo done > /done
"""


def build(busybox_oci: Path, context: Path, *args: str) -> Result:
    return CliRunner().invoke(
        app,
        [
            "build",
            "--progress",
            "plain",
            "--network",
            "none",
            "--build-arg",
            f"SOURCE_DATE_EPOCH={SDE}",
            "--build-context",
            f"{BASE}=oci-layout://{busybox_oci}:1",
            "--format",
            "json",
            *args,
            str(context),
        ],
    )


def context(path: Path, dockerfile: str = SERVICE) -> Path:
    path.mkdir(parents=True)
    (path / "Dockerfile").write_text(dockerfile)
    (path / "go.mod").write_text("module shop\n")
    (path / "main.go").write_text("package main\n")
    return path


def meta(result: Result) -> dict[str, object]:
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def cache_stats(result: Result) -> tuple[int, int]:
    cache = meta(result)["dockyard.cache"]
    assert isinstance(cache, dict)
    return cache["hits"], cache["misses"]


def new_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> Path:
    home = tmp_path / name
    home.mkdir()
    monkeypatch.setenv("DOCKYARD_HOME", str(home))
    return home


def test_machine_b_hits_every_step_from_machine_a_registry_cache(
    busybox_oci: Path, tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = f"{registry.host}/accept/app:cache"
    ctx_a = context(tmp_path / "a")
    first = build(busybox_oci, ctx_a, "--cache-to", f"type=registry,ref={ref},mode=max")
    hits, misses = cache_stats(first)
    assert (hits, misses) == (0, 7)
    assert "WARN" not in first.stderr

    # the artifact: an OCI manifest with our config type and ordinary layer blobs
    manifest = httpx.get(
        f"{registry.url}/v2/accept/app/manifests/cache",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    ).json()
    assert manifest["config"]["mediaType"] == CACHE_CONFIG_MEDIA_TYPE
    assert len(manifest["layers"]) == 7  # every step of both stages changed the filesystem
    assert {layer["mediaType"] for layer in manifest["layers"]} == {
        "application/vnd.oci.image.layer.v1.tar+gzip"
    }

    new_machine(tmp_path, monkeypatch, "machine-b")
    ctx_b = tmp_path / "b"
    shutil.copytree(ctx_a, ctx_b)  # same content, other path and mtimes
    out = tmp_path / "out-b"
    second = build(
        busybox_oci,
        ctx_b,
        "--cache-from",
        f"type=registry,ref={ref}",
        "-o",
        f"type=oci,dest={out},tar=false",
    )
    assert cache_stats(second) == (7, 0)
    assert meta(second)["containerimage.digest"] == meta(first)["containerimage.digest"]
    assert (out / "index.json").is_file()
    # hits were recorded locally: a third build needs no registry at all
    third = build(busybox_oci, ctx_b)
    assert cache_stats(third) == (7, 0)


def test_mode_min_exports_only_the_final_chain(
    busybox_oci: Path, tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = f"{registry.host}/accept/min:cache"
    ctx = context(tmp_path / "ctx")
    first = build(busybox_oci, ctx, "--cache-to", f"ref={ref}")  # type=registry, mode=min
    assert cache_stats(first) == (0, 7)
    new_machine(tmp_path, monkeypatch, "machine-b")
    second = build(busybox_oci, ctx, "--cache-from", ref)  # the bare form: a registry ref
    hits, misses = cache_stats(second)
    assert (hits, misses) == (2, 5)  # the build stage reruns, the final stage's steps hit
    assert meta(second)["containerimage.digest"] == meta(first)["containerimage.digest"]


def test_local_cache_directory_round_trip(
    busybox_oci: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = context(tmp_path / "ctx")
    cache_dir = tmp_path / "cache"
    first = build(busybox_oci, ctx, "--cache-to", f"type=local,dest={cache_dir},mode=max")
    assert cache_stats(first) == (0, 7)
    index = json.loads((cache_dir / "index.json").read_text())
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "latest"
    new_machine(tmp_path, monkeypatch, "machine-b")
    second = build(busybox_oci, ctx, "--cache-from", f"type=local,src={cache_dir}")
    assert cache_stats(second) == (7, 0)
    assert meta(second)["containerimage.digest"] == meta(first)["containerimage.digest"]


def test_inline_cache_travels_with_the_pushed_image(
    busybox_oci: Path, tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = f"{registry.host}/accept/inline:1"
    ctx = context(tmp_path / "ctx")
    first = build(busybox_oci, ctx, "-t", image, "--push", "--cache-to", "type=inline")
    assert cache_stats(first) == (0, 7)
    config_digest = meta(first)["containerimage.config.digest"]
    config = httpx.get(f"{registry.url}/v2/accept/inline/blobs/{config_digest}").json()
    assert "dev.dockyard.cache.v1" in config
    new_machine(tmp_path, monkeypatch, "machine-b")
    second = build(busybox_oci, ctx, "--cache-from", image)
    assert cache_stats(second) == (2, 5)  # inline caches hold the final chain only
    # without --cache-to type=inline the config carries no records
    third = build(busybox_oci, ctx)
    assert meta(third)["containerimage.digest"] != meta(first)["containerimage.digest"]


def test_layers_pushed_with_the_image_are_not_uploaded_again_for_the_cache(
    busybox_oci: Path, tmp_path: Path, fault_proxy: FaultProxy
) -> None:
    ctx = context(tmp_path / "ctx", f"FROM {BASE}\nCOPY go.mod /\nCOPY main.go /\n")
    result = build(
        busybox_oci,
        ctx,
        "-t",
        f"{fault_proxy.host}/shared/app:1",
        "--push",
        "--cache-to",
        f"type=registry,ref={fault_proxy.host}/shared/app:cache,mode=max",
    )
    assert cache_stats(result) == (0, 2)
    uploads = [p for m, p, _ in fault_proxy.log if m == "PUT" and "/blobs/uploads/" in p]
    # busybox's layer, the two COPY layers, the image config, the cache config: once each
    assert len(uploads) == 5


def test_flaky_registry_bursts_are_retried_and_the_cache_is_complete(
    busybox_oci: Path, tmp_path: Path, fault_proxy: FaultProxy, registry: Registry
) -> None:
    ctx = context(tmp_path / "ctx", f"FROM {BASE}\nCOPY go.mod /\nRUN cat /go.mod > /x\n")
    fault_proxy.add(Fault("respond", status=503, times=2, headers={"Retry-After": "0"}))
    fault_proxy.add(Fault("drop", path="/blobs/", every=3, times=2))
    result = build(
        busybox_oci, ctx, "--cache-to", f"type=registry,ref={fault_proxy.host}/flaky/app:cache"
    )
    assert cache_stats(result) == (0, 2)
    assert "WARN" not in result.stderr
    assert fault_proxy.count(kind="respond") == 2
    tag = httpx.get(f"{registry.url}/v2/flaky/app/tags/list").json()
    assert tag["tags"] == ["cache"]


def test_registry_down_during_cache_push_is_a_warning_and_the_image_is_fine(
    busybox_oci: Path, tmp_path: Path, fault_proxy: FaultProxy, registry: Registry
) -> None:
    ctx = context(tmp_path / "ctx", f"FROM {BASE}\nCOPY go.mod /\n")
    fault_proxy.add(Fault("respond", status=503, path="/blobs/"))
    fault_proxy.add(Fault("drop", path="/manifests/"))
    ref = f"{fault_proxy.host}/down/app:cache"
    result = build(busybox_oci, ctx, "-t", "down:1", "--cache-to", f"type=registry,ref={ref}")
    assert result.exit_code == 0, result.output
    assert "cache export failed (the build itself succeeded)" in result.stderr
    assert "down/app:cache" in result.stderr
    assert "Traceback" not in result.output
    assert Store.open().has("down:1")
    # nothing half-written: no tag in the registry
    answer = httpx.get(f"{registry.url}/v2/down/app/manifests/cache")
    assert answer.status_code == 404

    strict = build(
        busybox_oci,
        ctx,
        "-t",
        "down:2",
        "--cache-to",
        f"type=registry,ref={ref},ignore-error=true",
        "--cache-to",
        f"type=registry,ref={ref}-strict,ignore-error=false",
    )
    assert strict.exit_code == 1
    assert "error: " in strict.stderr
    assert "down/app:cache-strict" in strict.stderr
    assert "Traceback" not in strict.output
    assert Store.open().has("down:2")  # the image was written before the cache failed


def test_cache_import_from_a_dead_registry_or_garbage_falls_back_to_building(
    busybox_oci: Path, tmp_path: Path
) -> None:
    ctx = context(tmp_path / "ctx", f"FROM {BASE}\nCOPY go.mod /\nCOPY main.go /\n")
    dead = f"127.0.0.1:{free_port()}/app:cache"
    result = build(
        busybox_oci,
        ctx,
        "--cache-from",
        f"type=registry,ref={dead}",
        "--cache-from",
        f"type=local,src={busybox_oci}",  # an image, not a cache
        "--cache-from",
        f"type=local,src={tmp_path / 'nothing-here'}",
    )
    assert cache_stats(result) == (0, 2)
    warnings = [line for line in result.stderr.splitlines() if "cache import failed" in line]
    assert len(warnings) == 3, result.stderr  # one per broken source, not one per step
    assert "Traceback" not in result.output


def test_a_record_lying_about_its_layer_diff_id_is_not_used(
    busybox_oci: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = context(tmp_path / "ctx", f"FROM {BASE}\nCOPY go.mod /\n")
    good = tmp_path / "good"
    assert cache_stats(build(busybox_oci, ctx, "--cache-to", f"type=local,dest={good}")) == (0, 1)
    layout = OCILayout.open(good)
    image = layout.source("latest")
    assert isinstance(image, Image)
    records = decode_records(json.loads(image.config_bytes()), where="test")
    forged = [
        dataclasses.replace(
            r,
            layer=dataclasses.replace(r.layer, diff_id=Digest.of(b"not the layer")),
        )
        for r in records.values()
        if r.layer is not None
    ]
    manifest, config = cache_artifact(forged)
    bad = tmp_path / "bad"
    LayoutSink(bad, "latest").write(ArtifactImage(manifest, config, Store.open()))

    new_machine(tmp_path, monkeypatch, "machine-b")
    result = build(busybox_oci, ctx, "--cache-from", f"type=local,src={bad}")
    assert cache_stats(result) == (0, 1)
    assert "does not have the diff_id" in result.stderr

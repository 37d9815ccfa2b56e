"""Manifests, indexes, configs: parsing beside raw bytes, malformed input, wrong media types."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dockyard.errors import ManifestError, NotFoundError
from dockyard.oci import (
    Descriptor,
    Digest,
    ImageConfig,
    Index,
    Manifest,
    Platform,
    canonical_json,
    mediatypes,
    parse_manifest,
)

CONFIG = Descriptor(mediatypes.OCI_CONFIG, Digest.of(b"{}"), 2)
LAYER = Descriptor(mediatypes.OCI_LAYER_GZIP, Digest.of(b"layer"), 5)


def _manifest(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": CONFIG.to_dict(),
        "layers": [LAYER.to_dict()],
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


def test_digest_is_over_raw_bytes() -> None:
    raw = json.dumps(_manifest(), indent=3).encode()  # not canonical: digest keeps the bytes
    manifest = Manifest.parse(raw)
    assert manifest.raw == raw
    assert manifest.digest == Digest.of(raw)
    assert manifest.layers == (LAYER,)
    assert manifest.config == CONFIG


def test_build_round_trips() -> None:
    built = Manifest.build(CONFIG, [LAYER], annotations={"a": "b"})
    again = Manifest.parse(built.raw)
    assert again == built
    assert built.descriptor().size == len(built.raw)
    assert built.raw == canonical_json(json.loads(built.raw))


def test_docker_manifest_and_served_media_type() -> None:
    raw = canonical_json(_manifest(mediaType=mediatypes.DOCKER_MANIFEST))
    assert Manifest.parse(raw, mediatypes.DOCKER_MANIFEST).media_type == mediatypes.DOCKER_MANIFEST
    without = canonical_json(_manifest(mediaType=None))
    assert Manifest.parse(without).media_type == mediatypes.OCI_MANIFEST
    assert (
        Manifest.parse(without, mediatypes.DOCKER_MANIFEST).media_type == mediatypes.DOCKER_MANIFEST
    )


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (b'"text"', "not a JSON object"),
        (canonical_json(_manifest(schemaVersion=1)), "schemaVersion"),
        (canonical_json(_manifest(schemaVersion=None)), "schemaVersion"),
        (canonical_json(_manifest(schemaVersion="2")), "schemaVersion"),
        (canonical_json(_manifest(layers=None)), "layers"),
        (canonical_json(_manifest(layers={"a": 1})), "layers"),
        (canonical_json(_manifest(config=None)), "config"),
        (canonical_json(_manifest(config={"mediaType": "x", "size": 1})), "digest"),
        (canonical_json(_manifest(config={**CONFIG.to_dict(), "size": "2"})), "size"),
        (canonical_json(_manifest(config={**CONFIG.to_dict(), "size": True})), "size"),
        (canonical_json(_manifest(config={**CONFIG.to_dict(), "size": -1})), "negative"),
        (
            canonical_json(_manifest(config={**CONFIG.to_dict(), "digest": "md5:" + "a" * 32})),
            "md5",
        ),
        (canonical_json(_manifest(config={**CONFIG.to_dict(), "digest": "sha256:xyz"})), "sha256"),
        (canonical_json(_manifest(layers=["not an object"])), "layer 0"),
        (canonical_json(_manifest(mediaType=7)), "mediaType"),
        (canonical_json(_manifest(mediaType="application/json")), "media type"),
        (canonical_json(_manifest(mediaType=mediatypes.OCI_CONFIG)), "media type"),
    ],
)
def test_malformed_manifests(raw: bytes, match: str) -> None:
    with pytest.raises(ManifestError, match=match) as info:
        Manifest.parse(raw)
    assert info.value.exit_code == 2


def test_schema1_gets_a_hint() -> None:
    with pytest.raises(ManifestError) as info:
        Manifest.parse(canonical_json(_manifest(schemaVersion=1)))
    assert info.value.hint is not None
    assert "schema 1" in info.value.hint


def test_html_answer_is_recognized() -> None:
    html = b"<!DOCTYPE html><html><body>Login required</body></html>"
    with pytest.raises(ManifestError) as info:
        parse_manifest(html, "text/html")
    assert "HTML" in str(info.value)


def test_declared_and_served_media_types_must_agree() -> None:
    raw = canonical_json(_manifest())
    with pytest.raises(ManifestError, match="served as"):
        Manifest.parse(raw, mediatypes.DOCKER_MANIFEST)


def test_index_is_not_a_manifest() -> None:
    index = Index.build([Manifest.build(CONFIG, [LAYER]).descriptor()])
    with pytest.raises(ManifestError, match="index"):
        Manifest.parse(index.raw)
    with pytest.raises(ManifestError, match="index media type"):
        Index.parse(canonical_json(_manifest()))


def test_parse_manifest_decides_by_type_and_shape() -> None:
    manifest = Manifest.build(CONFIG, [LAYER])
    index = Index.build([manifest.descriptor(platform=Platform("linux", "amd64"))])
    assert isinstance(parse_manifest(manifest.raw), Manifest)
    assert isinstance(parse_manifest(index.raw), Index)
    shapeless = canonical_json({"schemaVersion": 2, "manifests": []})
    assert isinstance(parse_manifest(shapeless), Index)
    with pytest.raises(ManifestError, match="unsupported"):
        parse_manifest(canonical_json({"schemaVersion": 2, "mediaType": "text/plain"}))
    with pytest.raises(ManifestError):
        parse_manifest(canonical_json({"schemaVersion": 2}))


def test_index_select_platform() -> None:
    amd = Manifest.build(CONFIG, [LAYER]).descriptor(platform=Platform("linux", "amd64"))
    arm = Manifest.build(CONFIG, []).descriptor(platform=Platform("linux", "arm64", "v8"))
    index = Index.build([amd, arm], media_type=mediatypes.DOCKER_MANIFEST_LIST)
    assert index.select(Platform.parse("linux/amd64")).digest == amd.digest
    assert index.select(Platform.parse("linux/arm64")).digest == arm.digest
    with pytest.raises(NotFoundError, match="linux/amd64"):
        index.select(Platform.parse("linux/s390x"))
    with pytest.raises(ManifestError, match="manifests"):
        Index.parse(canonical_json({"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX}))


def test_config_parse_and_errors() -> None:
    raw = canonical_json(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "config": {"Env": ["A=1", "A=2"], "Labels": {"k": "v"}, "Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [str(Digest.of(b"x"))]},
            "history": [{"created_by": "x", "empty_layer": True}],
        }
    )
    config = ImageConfig.parse(raw)
    assert config.digest == Digest.of(raw)
    assert config.config.env_map() == {"A": "2"}
    assert config.platform == Platform("linux", "amd64")
    changed = config.evolve(architecture="arm64")
    assert changed.digest != config.digest
    for bad in (
        b"nope",
        b"[]",
        canonical_json({"rootfs": {"diff_ids": ["md5:abc"]}}),
        canonical_json({"rootfs": "layers"}),
        canonical_json({"config": {"Env": "A=1"}}),
        canonical_json({"config": {"Labels": ["x"]}}),
        canonical_json({"history": {"a": 1}}),
    ):
        with pytest.raises(ManifestError):
            ImageConfig.parse(bad)


def test_platform_parsing() -> None:
    assert Platform.parse("linux/x86_64") == Platform("linux", "amd64")
    assert Platform.parse("linux/arm64/v8") == Platform("linux", "arm64")
    assert str(Platform.parse("linux/arm/v7")) == "linux/arm/v7"
    for bad in ("linux", "linux/", "a/b/c/d", ""):
        with pytest.raises(Exception, match="platform"):
            Platform.parse(bad)

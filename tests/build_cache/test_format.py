"""The cache format, sizes and durations: pure functions, no builds."""

from __future__ import annotations

import json

import pytest

from dockyard.build.cache_admin import format_size, parse_duration, parse_size
from dockyard.build.cache_io import (
    CACHE_CONFIG_MEDIA_TYPE,
    INLINE_CACHE_KEY,
    CacheRecord,
    apply_inline_cache,
    cache_artifact,
    decode_records,
    encode_records,
)
from dockyard.build.keys import KeyInputs
from dockyard.build.layers import CachedStep, Layer
from dockyard.build.options import CacheSpec
from dockyard.errors import ManifestError, UsageError
from dockyard.oci import Descriptor, Digest, ImageConfig
from dockyard.oci import mediatypes as mt


def _layer(n: int) -> Layer:
    blob = Digest.of(f"blob{n}".encode())
    return Layer(Digest.of(f"diff{n}".encode()), Descriptor(mt.OCI_LAYER_GZIP, blob, 10 + n))


def _record(n: int, parent: str | None, *, layer: bool = True, final: bool = True) -> CacheRecord:
    inputs = KeyInputs.of("run", parent, {"command": f"echo {n}"})
    return CacheRecord(inputs.key, inputs, _layer(n) if layer else None, "build", final)


def test_records_round_trip_and_artifact_is_deterministic() -> None:
    a = _record(1, "image:sha256:" + "0" * 64)
    b = _record(2, a.key, layer=False)
    c = _record(3, b.key)
    decoded = decode_records(json.loads(json.dumps(encode_records([c, a, b]))), where="t")
    assert decoded == {r.key: r for r in (a, b, c)}
    m1, cfg1 = cache_artifact([a, b, c])
    m2, cfg2 = cache_artifact([c, b, a, a])
    assert (m1.raw, cfg1) == (m2.raw, cfg2)
    assert m1.config.media_type == CACHE_CONFIG_MEDIA_TYPE
    blobs = [r.layer.blob.digest for r in (a, c) if r.layer is not None]
    assert sorted(d.digest for d in m1.layers) == sorted(blobs)  # deduplicated
    assert all(d.media_type == mt.OCI_LAYER_GZIP for d in m1.layers)


def test_a_record_whose_key_is_not_its_inputs_hash_is_dropped() -> None:
    good = _record(1, None)
    doc = encode_records([good])
    forged = dict(doc["steps"][0], key="sha256:" + "f" * 64)
    doc["steps"].append(forged)
    assert set(decode_records(doc, where="t")) == {good.key}


@pytest.mark.parametrize(
    "doc", [[], {"version": 1}, {"version": 9, "steps": []}, {"version": 1, "steps": [1]}]
)
def test_garbage_is_a_manifest_error(doc: object) -> None:
    with pytest.raises(ManifestError):
        decode_records(doc, where="t")


def test_inline_records_follow_the_final_chain_and_replace_inherited_ones() -> None:
    base = "image:sha256:" + "1" * 64
    a = _record(1, base)
    b = _record(2, a.key)
    other = _record(9, base)  # another stage's step
    inherited = ImageConfig(extra={INLINE_CACHE_KEY: {"version": 1, "steps": []}})
    steps = [CachedStep(r.key, r.inputs, r.layer) for r in (a, other, b)]
    plain = apply_inline_cache(inherited, steps, b.key, [])
    assert INLINE_CACHE_KEY not in plain.extra
    inline = apply_inline_cache(inherited, steps, b.key, [CacheSpec("inline")])
    assert set(decode_records(inline.extra[INLINE_CACHE_KEY], where="t")) == {a.key, b.key}


def test_sizes_and_durations() -> None:
    assert parse_size("20GiB") == 20 << 30
    assert parse_size("10GB") == 10 << 30  # binary, like docker's --keep-storage
    assert parse_size("512m") == 512 << 20
    assert parse_size("1024") == 1024
    assert parse_duration("1h30m") == 5400
    assert parse_duration("7d") == 7 * 86400
    assert parse_duration("90") == 90
    assert format_size(1_500_000) == "1.5MB"
    for bad in ("", "ten", "5x", "1i"):
        with pytest.raises(UsageError):
            parse_size(bad)
    for bad in ("", "1y", "h", "1h 2m"):
        with pytest.raises(UsageError):
            parse_duration(bad)

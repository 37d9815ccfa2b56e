"""The registry client against a real docker-registry: push, pull, uploads, mount, tags, delete."""

from __future__ import annotations

import httpx
import pytest

from dockyard.errors import NotFoundError, RegistryProtocolError
from dockyard.oci import Digest, Platform, Reference
from dockyard.progress import EventKind, Recorder
from dockyard.registry import (
    RegistryClient,
    RegistrySink,
    RemoteImage,
    RemoteIndex,
    open_remote,
)
from tests.conftest import Registry
from tests.registry.conftest import FAST_RETRY
from tests.registry.faultproxy import Fault, FaultProxy, ProxyRequest, ProxyResponse
from tests.registry.images import LayoutImage, MemoryIndex, random_image

pytestmark = pytest.mark.registry


def ref(registry: Registry | FaultProxy, name: str) -> Reference:
    return Reference.parse(f"{registry.host}/{name}")


def test_ping(client: RegistryClient, registry: Registry) -> None:
    client.ping(registry.host)


def test_push_then_pull_busybox_identical(
    client: RegistryClient, registry: Registry, busybox: LayoutImage
) -> None:
    target = ref(registry, "client/busybox:1")
    desc = RegistrySink(client, target).write(busybox)
    assert desc.digest == busybox.digest
    # the manifest is what we pushed, byte for byte, fetched straight from the registry
    raw = httpx.get(
        f"{registry.url}/v2/client/busybox/manifests/1",
        headers={"Accept": busybox.manifest.media_type},
    ).content
    assert raw == busybox.manifest.raw
    pulled = open_remote(client, target, None)
    assert isinstance(pulled, RemoteImage)
    assert pulled.digest == busybox.digest
    for blob in pulled.blobs():
        with busybox.open_blob(blob) as want, pulled.open_blob(blob) as got:
            assert got.read() == want.read()
    assert pulled.config().raw == busybox.config_bytes()


def test_second_push_heads_and_skips(
    client: RegistryClient, registry: Registry, busybox: LayoutImage
) -> None:
    target = ref(registry, "client/again:1")
    RegistrySink(client, target).write(busybox)
    recorder = Recorder()
    client.progress = recorder
    RegistrySink(client, target).write(busybox)
    cached = [e for e in recorder.events if e.kind is EventKind.CACHED]
    assert len(cached) == len(busybox.blobs())


@pytest.mark.parametrize("chunked", [False, True])
def test_monolithic_and_chunked_uploads(registry: Registry, chunked: bool) -> None:
    image = random_image([300_000, 70_001, 1])
    with RegistryClient(
        retry=FAST_RETRY, use_docker_config=False, chunk_size=65_536 if chunked else None
    ) as client:
        target = ref(registry, f"client/upload-{str(chunked).lower()}:t")
        for blob in image.blobs():
            assert client.push_blob(target, blob, image.blob_data[blob.digest]) == "uploaded"
            assert client.blob_exists(target, blob.digest)
            assert client.get_blob(target, blob) == image.blob_data[blob.digest]


def test_upload_from_file_and_stream(
    client: RegistryClient, registry: Registry, tmp_path: object
) -> None:
    from pathlib import Path

    image = random_image([200_000, 50_000])
    first, second = image.layers
    path = Path(str(tmp_path)) / "blob"
    path.write_bytes(image.blob_data[first.digest])
    target = ref(registry, "client/sources:t")
    assert client.push_blob(target, first, path) == "uploaded"
    assert client.push_blob(target, second, lambda: image.open_blob(second)) == "uploaded"
    assert client.push_blob(target, second, lambda: image.open_blob(second)) == "exists"


def test_cross_repo_mount(client: RegistryClient, registry: Registry) -> None:
    image = random_image([10_000])
    blob = image.layers[0]
    source, dest = ref(registry, "client/mount-src:1"), ref(registry, "client/mount-dst:1")
    client.push_blob(source, blob, image.blob_data[blob.digest])
    assert not client.blob_exists(dest, blob.digest)
    assert client.mount_blob(dest, blob.digest, "client/mount-src")
    assert client.blob_exists(dest, blob.digest)
    # the sink mounts what it has seen elsewhere in the same registry
    other = ref(registry, "client/mount-dst2:1")
    assert client.push_blob(other, blob, image.blob_data[blob.digest]) == "mounted"
    # a mount the registry cannot do falls back to nothing mounted
    assert not client.mount_blob(ref(registry, "client/mount-none:1"), Digest.of(b"x"), "nope")


def test_sink_mounts_from_remote_source(
    client: RegistryClient, registry: Registry, busybox: LayoutImage
) -> None:
    RegistrySink(client, ref(registry, "client/mount-a:1")).write(busybox)
    with RegistryClient(retry=FAST_RETRY, use_docker_config=False) as fresh:
        recorder = Recorder()
        fresh.progress = recorder
        source = open_remote(fresh, ref(registry, "client/mount-a:1"), None)
        RegistrySink(fresh, ref(registry, "client/mount-b:1")).write(source)
        assert any("mounted" in e.message for e in recorder.events)


def test_head_get_delete_manifest(
    client: RegistryClient, registry: Registry, busybox: LayoutImage
) -> None:
    target = ref(registry, "client/delete:1")
    RegistrySink(client, target).write(busybox)
    head = client.head_manifest(target)
    assert head is not None
    assert head.digest == busybox.digest
    assert head.size == len(busybox.manifest.raw)
    by_digest = client.get_manifest(target, str(busybox.digest))
    assert by_digest.raw == busybox.manifest.raw
    client.delete_manifest(target, busybox.digest)
    assert client.head_manifest(target) is None
    with pytest.raises(NotFoundError, match="MANIFEST_UNKNOWN"):
        client.get_manifest(target)
    with pytest.raises(NotFoundError):
        client.delete_manifest(target, busybox.digest)


def test_missing_things_are_not_found(client: RegistryClient, registry: Registry) -> None:
    target = ref(registry, "client/nothing:1")
    with pytest.raises(NotFoundError) as info:
        client.get_manifest(target)
    assert info.value.location is not None
    assert "/v2/client/nothing/manifests/1" in info.value.location
    assert not client.blob_exists(target, Digest.of(b"nothing"))


def test_index_push_and_platform_selection(client: RegistryClient, registry: Registry) -> None:
    amd, arm = random_image([1000], arch="amd64"), random_image([2000], arch="arm64")
    index = MemoryIndex([(Platform("linux", "amd64"), amd), (Platform("linux", "arm64"), arm)])
    target = ref(registry, "client/multi:1")
    desc = RegistrySink(client, target).write(index, tags=["also"])
    assert desc.digest == index.digest
    remote = open_remote(client, target, None)
    assert isinstance(remote, RemoteIndex)
    assert remote.index.raw == index.index.raw
    child = open_remote(client, target, Platform.parse("linux/arm64"))
    assert isinstance(child, RemoteImage)
    assert child.digest == arm.digest
    with pytest.raises(NotFoundError, match="linux/amd64"):
        open_remote(client, target, Platform.parse("linux/s390x"))
    assert sorted(client.list_tags(target)) == ["1", "also"]


def _paginating(upstream: Registry):  # type: ignore[no-untyped-def]
    """Serve tags/list in pages with Link headers, as the distribution spec describes.

    The Debian docker-registry (2.8) ignores ``n=`` on tags/list, so pagination cannot be
    produced by it for real; this handler answers from the registry's full list.
    """

    def handle(request: ProxyRequest) -> ProxyResponse | None:
        url = httpx.URL(request.path)
        if not url.path.endswith("/tags/list") or "n" not in url.params:
            return None
        full = httpx.get(f"{upstream.url}{url.path}").json()
        tags = sorted(full["tags"])
        last = url.params.get("last")
        if last:
            tags = [t for t in tags if t > last]
        size = int(url.params["n"])
        page = tags[:size]
        headers = {}
        if len(tags) > size:
            headers["Link"] = f'<{url.path}?n={size}&last={page[-1]}>; rel="next"'
        body = httpx.Response(200, json={"name": full["name"], "tags": page}).content
        return ProxyResponse(200, body, headers)

    return handle


def test_tag_listing_with_pagination(
    client: RegistryClient, registry: Registry, fault_proxy: FaultProxy
) -> None:
    image = random_image([100])
    names = [f"v{i:02d}" for i in range(23)]
    RegistrySink(client, ref(registry, "client/tags:latest")).write(image, tags=names)
    fault_proxy.add(Fault("handle", handler=_paginating(registry)))
    tags = client.list_tags(ref(fault_proxy, "client/tags"), page_size=5)
    assert tags == sorted([*names, "latest"])
    assert fault_proxy.count(path="/tags/list") == 5  # 24 tags in pages of 5


def test_html_answer_is_a_protocol_error(client: RegistryClient, fault_proxy: FaultProxy) -> None:
    fault_proxy.add(
        Fault(
            "respond",
            status=200,
            headers={"Content-Type": "text/html"},
            body=b"<html><body>Login to the corporate proxy</body></html>",
        )
    )
    with pytest.raises(RegistryProtocolError, match="HTML") as info:
        client.get_manifest(ref(fault_proxy, "client/html:1"))
    assert info.value.hint is not None
    with pytest.raises(RegistryProtocolError, match="HTML"):
        client.ping(fault_proxy.host)


def test_mirrors_are_tried_in_order_for_reads(
    registry: Registry, busybox: LayoutImage, fault_proxy: FaultProxy
) -> None:
    with RegistryClient(retry=FAST_RETRY, use_docker_config=False) as plain:
        RegistrySink(plain, ref(registry, "client/mirrored:1")).write(busybox)
    # the origin (the proxy) is down for everything; the mirror (the real registry) serves reads
    fault_proxy.add(Fault("respond", status=503))
    dead_mirror = "127.0.0.1:9"  # discard port: connection refused
    with RegistryClient(
        retry=FAST_RETRY,
        use_docker_config=False,
        mirrors={fault_proxy.host: [dead_mirror, registry.host]},
    ) as client:
        image = open_remote(client, ref(fault_proxy, "client/mirrored:1"), None)
        assert image.digest == busybox.digest
        layer = image.layers[0]
        with image.open_blob(layer) as stream:  # type: ignore[union-attr]
            assert len(stream.read()) == layer.size
    assert fault_proxy.count(kind="respond") == 0

"""Copies through a misbehaving proxy in front of the real registry complete or fail cleanly."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from dockyard.errors import IntegrityError, RegistryUnavailableError
from dockyard.oci import Platform, Reference
from dockyard.registry import RegistryClient, RegistrySink, RetryPolicy, open_remote
from tests.conftest import Registry
from tests.registry.conftest import FAST_RETRY
from tests.registry.faultproxy import Fault, FaultProxy
from tests.registry.images import LayoutImage, MemoryImage, MemoryIndex, random_image

pytestmark = pytest.mark.registry


@pytest.fixture
def proxied(fault_proxy: FaultProxy) -> Iterator[RegistryClient]:
    with RegistryClient(retry=FAST_RETRY, use_docker_config=False, timeout=2.0, jobs=3) as c:
        yield c


def via(proxy: FaultProxy, name: str) -> Reference:
    return Reference.parse(f"{proxy.host}/{name}")


def assert_complete(registry: Registry, repository: str, tag: str, image: MemoryImage) -> None:
    """Check through the real registry's API (no proxy) that the tag names a whole image."""
    response = httpx.get(
        f"{registry.url}/v2/{repository}/manifests/{tag}",
        headers={"Accept": image.manifest.media_type},
    )
    assert response.status_code == 200
    assert response.content == image.manifest.raw
    for blob in image.blobs():
        got = httpx.get(f"{registry.url}/v2/{repository}/blobs/{blob.digest}")
        assert got.status_code == 200
        assert got.content == image.blob_data[blob.digest]


def assert_no_tag(registry: Registry, repository: str, tag: str) -> None:
    response = httpx.head(f"{registry.url}/v2/{repository}/manifests/{tag}")
    assert response.status_code == 404


def pull_all(client: RegistryClient, reference: Reference, image: MemoryImage) -> None:
    pulled = open_remote(client, reference, None)
    assert pulled.digest == image.digest
    for blob in image.blobs():
        with pulled.open_blob(blob) as stream:  # type: ignore[union-attr]
            assert stream.read() == image.blob_data[blob.digest]


def test_drop_every_third_request(
    proxied: RegistryClient, fault_proxy: FaultProxy, registry: Registry
) -> None:
    image = random_image([200_000, 100_000, 5_000])
    fault_proxy.add(Fault("drop", every=3))
    RegistrySink(proxied, via(fault_proxy, "faults/drop:1")).write(image)
    pull_all(proxied, via(fault_proxy, "faults/drop:1"), image)
    assert fault_proxy.count(kind="drop") >= 3
    assert_complete(registry, "faults/drop", "1", image)


def test_bursts_of_503_with_retry_after(
    proxied: RegistryClient, fault_proxy: FaultProxy, registry: Registry
) -> None:
    image = random_image([50_000])
    fault_proxy.add(Fault("respond", status=503, times=4, headers={"Retry-After": "0"}))
    RegistrySink(proxied, via(fault_proxy, "faults/burst:1")).write(image)
    fault_proxy.add(Fault("respond", status=503, path="/manifests/", times=3))
    pull_all(proxied, via(fault_proxy, "faults/burst:1"), image)
    assert fault_proxy.count(kind="respond") == 7
    assert_complete(registry, "faults/burst", "1", image)


def test_429_with_a_retry_after_beyond_the_budget_gives_up_at_once(
    proxied: RegistryClient, fault_proxy: FaultProxy
) -> None:
    fault_proxy.add(Fault("respond", status=429, headers={"Retry-After": "3600"}))
    started = time.monotonic()
    with pytest.raises(RegistryUnavailableError, match="HTTP 429") as info:
        proxied.get_manifest(via(fault_proxy, "faults/busy:1"))
    assert time.monotonic() - started < 5
    assert info.value.location is not None
    assert info.value.hint is not None
    assert fault_proxy.count(kind="respond") == 1


def test_persistent_5xx_fails_with_a_clear_error_after_bounded_tries(
    fault_proxy: FaultProxy,
) -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)
    with RegistryClient(retry=policy, use_docker_config=False) as client:
        fault_proxy.add(Fault("respond", status=502))
        with pytest.raises(RegistryUnavailableError, match="after 3 tries: HTTP 502"):
            client.head_manifest(via(fault_proxy, "faults/down:1"))
    assert fault_proxy.count(kind="respond") == 3


def test_stall_beyond_the_timeout_is_retried(fault_proxy: FaultProxy, registry: Registry) -> None:
    image = random_image([20_000])
    with RegistryClient(retry=FAST_RETRY, use_docker_config=False, timeout=0.5) as client:
        RegistrySink(client, via(fault_proxy, "faults/stall:1")).write(image)
        fault_proxy.add(Fault("stall", path="/manifests/", seconds=1.5, times=1))
        pull_all(client, via(fault_proxy, "faults/stall:1"), image)
    assert fault_proxy.count(kind="stall") == 1


def test_stall_in_the_middle_of_a_blob_resumes(fault_proxy: FaultProxy) -> None:
    image = random_image([400_000])
    layer = image.layers[0]
    with RegistryClient(retry=FAST_RETRY, use_docker_config=False, timeout=0.5) as client:
        RegistrySink(client, via(fault_proxy, "faults/midstall:1")).write(image)
        fault_proxy.add(
            Fault(
                "stall",
                path=f"/blobs/{layer.digest}",
                method="GET",
                after=150_000,
                seconds=1.5,
                times=1,
            )
        )
        pull_all(client, via(fault_proxy, "faults/midstall:1"), image)
    # the second GET asks for a Range
    assert fault_proxy.count(path=f"/blobs/{layer.digest}", method="GET") == 2


def test_truncated_blob_body_resumes_and_verifies(
    proxied: RegistryClient, fault_proxy: FaultProxy
) -> None:
    image = random_image([300_000])
    layer = image.layers[0]
    RegistrySink(proxied, via(fault_proxy, "faults/trunc:1")).write(image)
    fault_proxy.add(
        Fault("truncate", path=f"/blobs/{layer.digest}", method="GET", after=123_457, times=2)
    )
    pull_all(proxied, via(fault_proxy, "faults/trunc:1"), image)
    assert fault_proxy.count(path=f"/blobs/{layer.digest}", kind="truncate") == 2


def test_truncated_blob_without_retries_is_an_error_not_data(fault_proxy: FaultProxy) -> None:
    image = random_image([300_000])
    layer = image.layers[0]
    with RegistryClient(retry=RetryPolicy.none(), use_docker_config=False) as client:
        RegistrySink(client, via(fault_proxy, "faults/trunc-none:1")).write(image)
        fault_proxy.add(Fault("truncate", path=f"/blobs/{layer.digest}", method="GET", after=1000))
        with pytest.raises(RegistryUnavailableError, match="at byte 1000 of 300000"):
            client.get_blob(via(fault_proxy, "faults/trunc-none:1"), layer)


@pytest.mark.parametrize("offset", [0, 4_999, 99_999])
def test_altered_blob_is_detected_and_never_retried(
    proxied: RegistryClient, fault_proxy: FaultProxy, offset: int
) -> None:
    image = random_image([100_000])
    layer = image.layers[0]
    RegistrySink(proxied, via(fault_proxy, f"faults/flip{offset}:1")).write(image)
    fault_proxy.add(Fault("flip", path=f"/blobs/{layer.digest}", method="GET", after=offset))
    with pytest.raises(IntegrityError, match="digest mismatch"):
        proxied.get_blob(via(fault_proxy, f"faults/flip{offset}:1"), layer)
    assert fault_proxy.count(path=f"/blobs/{layer.digest}", method="GET") == 1


def test_altered_manifest_is_detected(
    proxied: RegistryClient, fault_proxy: FaultProxy, busybox: LayoutImage
) -> None:
    RegistrySink(proxied, via(fault_proxy, "faults/flipman:1")).write(busybox)
    fault_proxy.add(Fault("flip", path="/manifests/", method="GET", after=3))
    with pytest.raises(IntegrityError, match="manifest digest mismatch"):
        proxied.get_manifest(via(fault_proxy, "faults/flipman:1"))
    with pytest.raises(IntegrityError, match="manifest digest mismatch"):
        proxied.get_manifest(via(fault_proxy, "faults/flipman:1"), str(busybox.digest))


def test_failed_push_leaves_no_tag(fault_proxy: FaultProxy, registry: Registry) -> None:
    image = random_image([100_000, 50_000])
    policy = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.05)
    with RegistryClient(retry=policy, use_docker_config=False) as client:
        fault_proxy.add(Fault("respond", status=503, path="/blobs/uploads/", every=2))
        fault_proxy.add(Fault("drop", path="/blobs/uploads/", every=2))
        with pytest.raises(RegistryUnavailableError):
            RegistrySink(client, via(fault_proxy, "faults/half:1")).write(image)
    assert_no_tag(registry, "faults/half", "1")


def test_failed_index_push_leaves_no_tag(fault_proxy: FaultProxy, registry: Registry) -> None:
    amd, arm = random_image([1000], arch="amd64"), random_image([1000], arch="arm64")
    index = MemoryIndex([(Platform("linux", "amd64"), amd), (Platform("linux", "arm64"), arm)])
    policy = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.05)
    with RegistryClient(retry=policy, use_docker_config=False) as client:
        fault_proxy.add(Fault("respond", status=500, path=f"/manifests/{arm.digest}"))
        with pytest.raises(RegistryUnavailableError):
            RegistrySink(client, via(fault_proxy, "faults/halfindex:1")).write(index)
    assert_no_tag(registry, "faults/halfindex", "1")


def test_chunked_upload_resumes_after_dropped_patches(
    fault_proxy: FaultProxy, registry: Registry
) -> None:
    image = random_image([500_000])
    with RegistryClient(retry=FAST_RETRY, use_docker_config=False, chunk_size=64 * 1024) as client:
        fault_proxy.add(Fault("drop", method="PATCH", every=3))
        fault_proxy.add(Fault("respond", status=503, method="PATCH", every=4))
        RegistrySink(client, via(fault_proxy, "faults/chunks:1")).write(image)
    assert fault_proxy.count(kind="drop") >= 2
    assert_complete(registry, "faults/chunks", "1", image)


def test_a_dead_registry_fails_fast_and_clearly() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)
    with RegistryClient(retry=policy, use_docker_config=False) as client:
        with pytest.raises(RegistryUnavailableError, match="after 3 tries") as info:
            client.get_manifest(Reference.parse("127.0.0.1:9/dead/image:1"))
    assert "127.0.0.1:9" in str(info.value)

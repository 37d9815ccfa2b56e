"""Fixtures for the registry client tests: the fault proxy, images to push, a client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.registry import RegistryClient, RetryPolicy
from tests.registry.faultproxy import fault_proxy
from tests.registry.images import LayoutImage

__all__ = ["fault_proxy"]

FAST_RETRY = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.2, total_timeout=30.0)


@pytest.fixture
def client() -> Iterator[RegistryClient]:
    """A client with quick retries and no docker config."""
    with RegistryClient(retry=FAST_RETRY, use_docker_config=False, timeout=10.0) as c:
        yield c


@pytest.fixture
def busybox(busybox_oci: Path) -> LayoutImage:
    return LayoutImage.open(busybox_oci, "1")

"""Fixtures for the shared build cache tests: the fault proxy in front of the real registry."""

from __future__ import annotations

from tests.registry.faultproxy import fault_proxy

__all__ = ["fault_proxy"]

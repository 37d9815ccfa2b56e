"""Retry policy, Retry-After parsing and endpoint schemes (pure functions)."""

from __future__ import annotations

import random

import pytest

from dockyard.registry import RegistryClient, RetryPolicy, is_loopback, parse_retry_after


def test_full_jitter_stays_under_the_exponential_cap() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    rng = random.Random(1)
    for attempt, cap in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        delays = [policy.backoff(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8  # spread over the whole range, not a fixed value


def test_next_delay_bounds_attempts_and_time() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=0.1, max_delay=1.0, total_timeout=10.0)
    assert policy.next_delay(1, elapsed=0.0) is not None
    assert policy.next_delay(3, elapsed=0.0) is None
    assert policy.next_delay(1, elapsed=9.99, retry_after=5) is None
    assert policy.next_delay(1, elapsed=1.0, retry_after=5) == 5
    assert RetryPolicy.none().next_delay(1, elapsed=0.0) is None


def test_parse_retry_after() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = 784111777.0  # Sun, 06 Nov 1994 08:49:37 GMT
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now=now) == pytest.approx(10)
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now=now) == 0


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost:5000", True),
        ("127.0.0.1:5000", True),
        ("127.3.4.5", True),
        ("[::1]:5000", True),
        ("::1", True),
        ("10.0.0.1:5000", False),
        ("registry.example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_plain_http_only_for_loopback_or_insecure() -> None:
    with RegistryClient(insecure=["reg.internal:5000"], use_docker_config=False) as client:
        assert client.base_url("127.0.0.1:5000") == "http://127.0.0.1:5000"
        assert client.base_url("reg.internal:5000") == "http://reg.internal:5000"
        assert client.base_url("ghcr.io") == "https://ghcr.io"
        assert client.base_url("docker.io") == "https://registry-1.docker.io"

"""Retry policy: exponential backoff with full jitter, Retry-After, bounded attempts and time."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

__all__ = ["RETRYABLE_STATUS", "RetryPolicy", "parse_retry_after"]

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = time.time() if now is None else now
    return max(when.timestamp() - now, 0.0)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try: at most ``max_attempts`` tries within ``total_timeout`` seconds.

    The wait before try ``n+1`` is uniform in ``[0, min(max_delay, base_delay * 2**n))``
    (AWS's "full jitter"); a ``Retry-After`` from the server is honoured instead when it
    fits in the remaining time, and makes us give up when it does not. Long transfers
    that resume (chunked uploads, ranged downloads) start a fresh budget whenever bytes
    move forward, so the bound is on tries and time *without progress*.
    """

    max_attempts: int = 6
    base_delay: float = 0.2
    max_delay: float = 10.0
    total_timeout: float = 300.0

    @classmethod
    def none(cls) -> RetryPolicy:
        """A single try, no retries."""
        return cls(max_attempts=1)

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        cap = min(self.max_delay, self.base_delay * (2 ** max(attempt - 1, 0)))
        return (rng or random).uniform(0, cap)

    def next_delay(
        self,
        attempt: int,
        elapsed: float,
        retry_after: float | None = None,
        rng: random.Random | None = None,
    ) -> float | None:
        """The wait before the next try, or None when it is time to give up."""
        if attempt >= self.max_attempts:
            return None
        delay = retry_after if retry_after is not None else self.backoff(attempt, rng)
        if elapsed + delay > self.total_timeout:
            return None
        return delay

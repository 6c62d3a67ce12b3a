"""A client-side token-bucket rate limiter shared by worker threads, plugged into the transport's session.

Partner Center documents 500 requests/minute/tenant for the Order and Subscription resources
(partner-center-api.md §7.3). Rather than discover the limit through 429s, cspkit spends at most
:data:`DEFAULT_PER_MINUTE` (475, 95 % of it) by default. The bucket holds ``burst`` tokens (default 2 % of the
minute's budget, at least 1) so that, even against a server counting a sliding 60-second window, the requests in
any window stay ≤ ``burst + per_minute`` — under the server's limit as long as ``burst`` ≤ the 5 % headroom.

Every HTTP attempt (retries included) takes one token: :class:`RateLimitedSession` is a ``requests.Session`` whose
``request`` waits for a token first, and is passed to the transport with ``PartnerCenter(session=...)``.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

__all__ = ["DEFAULT_PER_MINUTE", "RateLimitedSession", "TokenBucket", "rate_limited_session"]

DEFAULT_PER_MINUTE = 475.0


class TokenBucket:
    """Thread-safe token bucket.

    Args:
        per_minute: sustained rate (requests per minute, > 0).
        burst: bucket capacity in tokens (default ``max(1, 2 % of per_minute)``); it starts full.
        clock: monotonic seconds (stubbed in tests).
        sleep: sleep function (stubbed in tests).
    """

    def __init__(
        self, per_minute: float = DEFAULT_PER_MINUTE, *, burst: float | None = None,
        clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.per_minute = float(per_minute)
        self.rate = self.per_minute / 60.0
        self.capacity = float(burst) if burst is not None else max(1.0, round(self.per_minute * 0.02))
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()
        self.acquired = 0
        self.waited = 0.0

    def _reserve(self) -> float:
        """Take a token now or reserve the next one; returns how long the caller must wait (seconds)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1.0
            self.acquired += 1
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
            self.waited += wait
            return wait

    def acquire(self) -> float:
        """Block until one request may be sent; returns the seconds waited. Fair: callers are served in order."""
        wait = self._reserve()
        if wait > 0:
            self._sleep(wait)
        return wait


class RateLimitedSession(requests.Session):
    """A ``requests.Session`` that takes a token from ``limiter`` before every request whose path matches
    ``pattern`` (default: every request)."""

    def __init__(self, limiter: TokenBucket, *, pattern: str | None = None) -> None:
        super().__init__()
        self.limiter = limiter
        self._pattern = re.compile(pattern) if pattern else None
        # a worker pool shares this session: keep enough pooled connections for it
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if self._pattern is None or self._pattern.search(str(url)):
            self.limiter.acquire()
        return super().request(method, url, *args, **kwargs)


def rate_limited_session(per_minute: float | None = None) -> RateLimitedSession:
    """A session spending at most ``per_minute`` requests a minute (default: ``CSPKIT_RATE_LIMIT``, else
    :data:`DEFAULT_PER_MINUTE`), to give the client: ``PartnerCenter(session=rate_limited_session())``."""
    per_minute = per_minute or float(os.environ.get("CSPKIT_RATE_LIMIT") or DEFAULT_PER_MINUTE)
    return RateLimitedSession(TokenBucket(per_minute))

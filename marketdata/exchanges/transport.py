"""One venue's REST transport: rate-limited sends, venue errors parsed, transport faults retried with backoff.

What is retried, and what is not:

- Timeouts, refused or cut connections, truncated bodies, HTTP 5xx: retried with exponential backoff and jitter,
  up to ``max_attempts`` in all. (Binance says a 5xx leaves the outcome unknown; for reads that means "ask again".)
- 429 and 418 (Binance) and 429 (Coinbase): the limiter is paused for ``Retry-After`` (418: the ban's length), so no
  request at all leaves for that venue budget in the meantime, then the request is sent again.
- Bybit's 403 "access too frequent": an IP ban of at least ten minutes, without a ``Retry-After``: paused for
  ``ban_wait_s``.
- Any other 4xx, and a body that is not what the venue documents: raised at once (:class:`VenueError`,
  :class:`PayloadError`); asking again would get the same answer.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp

from marketdata.core.rest import RestRequest, VenueError
from marketdata.core.venues import Venue
from marketdata.exchanges.limits import FixedWindowBudget, RateLimiter

ErrorParser = Callable[[int, bytes], VenueError]


class TransportError(Exception):
    """A request still failing after every attempt (timeouts, 5xx, cut connections): the download stops here."""


@dataclass
class TransportStats:
    requests: int = 0  # sent, retries included
    retries: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    rate_limited: int = 0  # 429/418/403-ban answers received (each one is a limit we failed to respect)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    backoff_s: float = 0.5  # first wait; doubles each attempt
    backoff_max_s: float = 30.0
    timeout_s: float = 30.0  # a whole request, connect to last byte
    ban_wait_s: float = 600.0  # Bybit's 403 ban lasts "at least 10 minutes" and sends no Retry-After

    def backoff(self, attempt: int) -> float:
        """The wait before attempt ``attempt + 1``: exponential, capped, with full jitter in its upper half."""
        base: float = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
        return base / 2 + random.uniform(0, base / 2)  # noqa: S311 (jitter, not security)


class RestTransport:
    """Sends :class:`RestRequest` objects to ``base_url`` under ``limiter``; returns the body of a 2xx answer."""

    def __init__(
        self,
        venue: Venue,
        base_url: str,
        *,
        limiter: RateLimiter,
        error_parse: ErrorParser,
        weight_header: str | None = None,
        policy: RetryPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.venue = venue
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter
        self.error_parse = error_parse
        self.weight_header = weight_header
        self.policy = policy or RetryPolicy()
        self.stats = TransportStats()
        self._session = session
        self._own_session = session is None
        self._sleep = sleep

    async def __aenter__(self) -> RestTransport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _session_get(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.policy.timeout_s),
                connector=aiohttp.TCPConnector(limit=64),
                headers={"Accept": "application/json", "User-Agent": "hftbot-marketdata"},
            )
        return self._session

    async def get(self, request: RestRequest) -> bytes:
        """GET ``request``; the body of the 2xx answer. Raises VenueError, PayloadError or TransportError."""
        url = self.base_url + request.path
        attempt = 0
        while True:
            attempt += 1
            slot = await self.limiter.acquire(request.weight)
            self.stats.requests += 1
            failure = None
            try:
                async with self._session_get().get(url, params=request.params) as response:
                    status = response.status
                    body = await response.read()
                    headers = response.headers
            except (TimeoutError, aiohttp.ClientError) as error:
                # Timeouts, refused/cut connections, bodies shorter than their Content-Length.
                failure = f"{type(error).__name__}: {error}"
            finally:
                # The venue has counted the request by now, if it ever will (see the limiters' ``release``).
                self.limiter.release(slot)
            if failure is not None:
                await self._retry_or_raise(attempt, failure, url)
                continue
            self.stats.statuses[status] += 1
            if self.weight_header is not None and isinstance(self.limiter, FixedWindowBudget):
                used = headers.get(self.weight_header)
                if used is not None and used.isdigit():
                    self.limiter.observe(int(used))
            if 200 <= status < 300:
                return body
            if status in (418, 429) or (status == 403 and self.venue is Venue.BYBIT):
                self.stats.rate_limited += 1
                wait = self._retry_after(headers.get("Retry-After"), status)
                self.limiter.pause_until(time.time() + wait)
                await self._retry_or_raise(attempt, f"HTTP {status}, backing off {wait:.0f} s", url, wait=0.0)
                continue
            if status >= 500:
                await self._retry_or_raise(attempt, f"HTTP {status}", url)
                continue
            raise self.error_parse(status, body)

    def _retry_after(self, value: str | None, status: int) -> float:
        if value is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                pass
        return self.policy.ban_wait_s if status in (403, 418) else 1.0

    async def _retry_or_raise(self, attempt: int, reason: str, url: str, *, wait: float | None = None) -> None:
        if attempt >= self.policy.max_attempts:
            raise TransportError(f"{self.venue}: {url} failed {attempt} times; last: {reason}")
        self.stats.retries += 1
        await self._sleep(self.policy.backoff(attempt) if wait is None else wait)

"""Sign-in for NEAT_AUTH: Gradio's auth callable, with failed attempts throttled.

After MAX_FAILURES wrong passwords within WINDOW_S seconds for one user name (or
MAX_ADDRESS_FAILURES from one client address), further attempts for that name or from that
address are refused with HTTP 429, even with the right password, until failures leave the window.
Gradio calls the auth function as `auth(username, password)` inside its /login route; the
client address reaches it through a small ASGI middleware that records each request's address
in a context variable.
"""

from __future__ import annotations

import contextvars
import hmac
import threading
import time
from collections import defaultdict, deque

MAX_FAILURES = 5  # per user name
MAX_ADDRESS_FAILURES = 20  # per client address: a few colleagues' typos behind one NAT are fine
WINDOW_S = 300.0

client_address: contextvars.ContextVar[str] = contextvars.ContextVar("client_address", default="?")


class LoginThrottle:
    """Failed sign-ins per key ("user:NAME", "addr:IP") in a sliding window."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_S,
        clock=time.monotonic,
        max_address_failures: int = MAX_ADDRESS_FAILURES,
    ):
        self.max_failures, self.window_s, self.clock = max_failures, window_s, clock
        self.max_address_failures = max_address_failures
        self._failures: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str) -> deque:
        times, cutoff = self._failures[key], self.clock() - self.window_s
        while times and times[0] <= cutoff:
            times.popleft()
        return times

    def retry_after(self, keys: list[str]) -> float:
        """Seconds until these keys may try again (0: now)."""
        with self._lock:
            waits = [
                times[-self._limit(key)] + self.window_s - self.clock()
                for key in keys
                if len(times := self._recent(key)) >= self._limit(key)
            ]
        return max(waits, default=0.0)

    def _limit(self, key: str) -> int:
        return self.max_address_failures if key.startswith("addr:") else self.max_failures

    def failed(self, keys: list[str]) -> None:
        with self._lock:
            now = self.clock()
            for key in keys:
                self._recent(key).append(now)

    def succeeded(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                if key.startswith("user:"):
                    self._failures.pop(key, None)


class Authenticator:
    """`auth(username, password) -> bool` for gr.Blocks.launch, throttled per user and address."""

    def __init__(self, pairs: list[tuple[str, str]], throttle: LoginThrottle | None = None):
        self._passwords = dict(pairs)
        self.throttle = throttle or LoginThrottle()

    def __call__(self, username: str, password: str) -> bool:
        keys = [f"user:{username}", f"addr:{client_address.get()}"]
        wait = self.throttle.retry_after(keys)
        if wait > 0:
            from fastapi import HTTPException

            raise HTTPException(
                status_code=429,
                detail=f"Too many failed sign-ins for this user or address; try again in {wait:.0f} s.",
            )
        expected = self._passwords.get(username)
        ok = expected is not None and hmac.compare_digest(password.encode(), expected.encode())
        (self.throttle.succeeded if ok else self.throttle.failed)(keys)
        return ok


class ClientAddressMiddleware:
    """Pure ASGI middleware: puts the client's address into `client_address` for the request."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope.get("type") == "http":
            client = scope.get("client")
            token = client_address.set(client[0] if client else "?")
            try:
                return await self.app(scope, receive, send)
            finally:
                client_address.reset(token)
        return await self.app(scope, receive, send)

"""A bounded in-memory table of values under random tokens: the app's image sessions and search thumbnails."""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from typing import Generic, TypeVar

from fastapi import HTTPException

#: Tokens: :func:`secrets.token_urlsafe` of 16 random bytes (128 bits, so not guessable).
TOKEN_PATTERN = r"^[A-Za-z0-9_-]{22}$"

T = TypeVar("T")


class TokenStore(Generic[T]):
    """The ``capacity`` most recently used values, in memory, under random url-safe tokens.

    ``what`` names a value in the 404 message of :meth:`get` ("image", "thumbnail").
    """

    def __init__(self, capacity: int, what: str) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity, self.what = capacity, what
        self._values: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._values)

    def add(self, value: T) -> str:
        """Store ``value`` under a new token, dropping the least recently used past the capacity."""
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._values[token] = value
            while len(self._values) > self.capacity:
                self._values.popitem(last=False)
        return token

    def get(self, token: str) -> T:
        """The value of ``token``, now the most recently used; 404 when unknown or dropped."""
        with self._lock:
            if token not in self._values:
                raise HTTPException(
                    404, f"no {self.what} {token}: unknown, or dropped after {self.capacity} more recent ones"
                )
            self._values.move_to_end(token)
            return self._values[token]

"""Pytest plugin: real local Synapse homeservers for the test suite.

Loaded by tests/conftest.py via `pytest_plugins = ["tests.synapse_fixtures"]`.

- `synapse`: one relaxed-rate-limit server per test session (start-up costs 2-4 s, so share it).
- `synapse_strict`: a second server with Synapse's default rate limits, for M_LIMIT_EXCEEDED
  handling. Measured: the 4th wrong password for an account gets 429 (retry_after_ms ~6000),
  the 10th message in a burst gets 429 (~4600 ms); Synapse holds each 429 answer ~0.5 s. Its
  per-IP login limiter (5 attempts, then one per ~330 s) is shared by every test in the session,
  so get users there with `register()` (admin API, not rate limited) rather than `/login`.
- `make_user`: factory for fresh accounts with unique localparts on `synapse`.
- `matrix_api()`: act as "another client" with plain HTTP calls.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from webclient.demo.homeserver import LocalSynapse, MatrixHTTPError, RegisteredUser, matrix_request

__all__ = ["MatrixAPIError", "MakeUser", "matrix_api"]

# The exception `matrix_api` raises: `.status`, `.errcode`, `.error`, `.retry_after_ms`, `.body`.
MatrixAPIError = MatrixHTTPError

MakeUser = Callable[..., RegisteredUser]


def matrix_api(
    hs_url: str,
    token: str | None,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """One client-server API call as "another client", e.g.
    `matrix_api(hs.url, user.access_token, "POST", "/_matrix/client/v3/createRoom", {})`.

    Raises `MatrixAPIError` (status code + Matrix errcode) on HTTP errors.
    """
    return matrix_request(hs_url, method, path, body, token=token, timeout=timeout)


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSynapse]:
    """A running homeserver with rate limits raised out of the way."""
    hs = LocalSynapse(tmp_path_factory.mktemp("synapse"), relaxed_rate_limits=True)
    with hs:
        yield hs


@pytest.fixture(scope="session")
def synapse_strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSynapse]:
    """A running homeserver with Synapse's default rate limits."""
    hs = LocalSynapse(tmp_path_factory.mktemp("synapse-strict"), relaxed_rate_limits=False)
    with hs:
        yield hs


@pytest.fixture
def make_user(synapse: LocalSynapse) -> MakeUser:
    """`make_user(prefix="user", *, admin=False, displayname=None, password=None)`.

    Each call registers a new account `@{prefix}-{10 hex chars}:localhost` on `synapse`; the
    password defaults to `pw-{localpart}` and is kept on the returned `RegisteredUser`.
    """

    def factory(
        prefix: str = "user",
        *,
        admin: bool = False,
        displayname: str | None = None,
        password: str | None = None,
    ) -> RegisteredUser:
        localpart = f"{prefix.lower()}-{uuid.uuid4().hex[:10]}"
        return synapse.register(
            localpart,
            password or f"pw-{localpart}",
            admin=admin,
            displayname=displayname,
        )

    return factory

"""Shared fixtures: real Synapse (tests/synapse_fixtures.py), a real daphne server running
the client (started by tests/server.py), and real Chromium driven by Playwright
(tests/browser/conftest.py).

Helpers live in helper modules, never in test modules or conftests: tests/matrix_helpers.py
(another client's calls to Synapse), tests/client_helpers.py (signing in through the client,
its sessions, pages and websockets), tests/media_helpers.py, tests/server.py,
tests/browser/helpers.py and tests/browser/chromium.py."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

from tests.server import WebclientServer, start_webclient, stop_webclient

os.environ.setdefault("WEBCLIENT_DATA_DIR", tempfile.mkdtemp(prefix="webclient-test-"))

pytest_plugins = ["tests.synapse_fixtures", "tests.peers.jspeer"]


@pytest.fixture(autouse=True)
def _fast_sessions(settings) -> None:
    """Short long-polls and idle times, so tests neither wait nor leak loops."""
    settings.MATRIX_SYNC_TIMEOUT_MS = 5000
    settings.MATRIX_SESSION_IDLE_SECONDS = 5


@pytest.fixture(autouse=True)
def _fresh_cache_language_and_zone():
    """Each test starts with an empty cache (rendered tiles are cached by event ID, and tests
    reuse IDs such as "$1") and in the default language and time zone (a request handled in
    this thread activates the viewer's), and ends without the channel layer it used."""
    from django.core.cache import cache
    from django.utils import timezone, translation

    cache.clear()
    translation.deactivate()
    timezone.deactivate()
    yield
    translation.deactivate()
    timezone.deactivate()
    # Channels keeps the layer it built: a test that pointed CHANNEL_LAYERS at a Redis of its
    # own must not leave it to the next test.
    from channels.layers import channel_layers

    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
async def _stop_sessions() -> None:
    """Each test's event loop ends with it: stop every sync loop the test started."""
    yield
    from webclient.matrix import registry

    await registry.stop_all()


@pytest.fixture(scope="session")
def webclient_server(synapse, tmp_path_factory) -> Iterator[WebclientServer]:
    server = start_webclient(tmp_path_factory.mktemp("webclient"), synapse.url)
    yield server
    stop_webclient(server)

"""Settings > Preferences over HTTP against a real Synapse: the theme is kept on this login's
Credential, reaches <html data-theme> on every page, and nothing else gets in."""

from __future__ import annotations

import re

import pytest

from tests.client_helpers import sign_in
from webclient.matrix.models import Credential

pytestmark = pytest.mark.django_db(transaction=True)


async def test_theme_is_kept_per_login_and_written_on_html(async_client, synapse, make_user):
    user = make_user("prefs")
    credential = await sign_in(async_client, synapse, user)
    page = (await async_client.get("/settings/preferences/")).content.decode()
    assert not re.search(r"<html [^>]*data-theme", page)
    assert 'id="theme-browser" checked' in page

    answer = await async_client.post("/settings/preferences/", {"form": "theme", "theme": "dark"})
    assert answer.status_code == 302
    assert (await Credential.objects.aget(pk=credential.pk)).theme == "dark"
    for path in ("/settings/preferences/", "/settings/password/", "/rooms/"):
        html = (await async_client.get(path)).content.decode()
        assert re.search(r'<html [^>]*data-theme="dark"', html), path

    refused = await async_client.post(
        "/settings/preferences/", {"form": "theme", "theme": 'dark" onload="x'}
    )
    assert refused.status_code == 400
    assert "Choose one of the themes" in refused.content.decode()
    assert (await Credential.objects.aget(pk=credential.pk)).theme == "dark"

    await async_client.post("/settings/preferences/", {"form": "theme", "theme": ""})
    assert (await Credential.objects.aget(pk=credential.pk)).theme == ""
    html = (await async_client.get("/rooms/")).content.decode()
    assert not re.search(r"<html [^>]*data-theme", html)

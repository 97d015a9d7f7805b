"""Account settings against a real Synapse: profile (display name, avatar), other people's
profiles with Ignore / Unignore, devices (list, rename, sign out others with the password) and
changing the password.

The person using the web client signs in through the login form with `async_client`; what
changed is checked on the homeserver with plain client-server API calls.
"""

from __future__ import annotations

import asyncio
import html
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.client_helpers import asks_first, sign_in
from tests.matrix_helpers import api, q
from tests.synapse_fixtures import MatrixAPIError
from webclient.matrix.models import Credential

pytestmark = pytest.mark.django_db(transaction=True)

PROFILE = reverse("accounts:profile")
DEVICES = reverse("accounts:devices")
PASSWORD = reverse("accounts:password")


def user_url(user_id: str) -> str:
    return reverse("accounts:user", args=[user_id])


def png_bytes(colour: str = "red") -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(out, "PNG")
    return out.getvalue()


def element_text(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</(?:p|h1|div)>', page, re.S)
    assert match, f"no #{element_id} on the page"
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()


async def whoami_errcode(hs, token: str) -> str | None:
    try:
        await api(hs, token, "GET", "/account/whoami")
    except MatrixAPIError as exc:
        return exc.errcode
    return None


async def device_ids(hs, token: str) -> set[str]:
    answer = await api(hs, token, "GET", "/devices")
    return {device["device_id"] for device in answer["devices"]}


async def login(hs, localpart: str, password: str):
    return await asyncio.to_thread(hs.login, localpart, password)


async def followed(async_client, response) -> str:
    """The page a redirect after a form leads to (with its flash message)."""
    assert response.status_code == 302, response.content.decode()[:2000]
    page = await async_client.get(response["Location"])
    assert page.status_code == 200
    return page.content.decode()


# -- your profile -------------------------------------------------------------------------------


async def test_profile_shows_and_changes_display_name(async_client, synapse, make_user):
    alice = make_user("alice", displayname="Alice Before")
    await sign_in(async_client, synapse, alice)

    page = (await async_client.get(PROFILE)).content.decode()
    assert element_text(page, "profile-display-name") == "Alice Before"
    assert 'value="Alice Before"' in page

    response = await async_client.post(
        PROFILE, {"form": "displayname", "displayname": " Alice After "}
    )
    page = await followed(async_client, response)
    assert "Your display name is now “Alice After”." in html.unescape(page)
    assert element_text(page, "profile-display-name") == "Alice After"
    profile = await api(synapse, alice.access_token, "GET", f"/profile/{q(alice.user_id)}")
    assert profile["displayname"] == "Alice After"


async def test_empty_display_name_is_refused(async_client, synapse, make_user):
    alice = make_user("alice", displayname="Alice")
    await sign_in(async_client, synapse, alice)
    response = await async_client.post(PROFILE, {"form": "displayname", "displayname": "   "})
    assert response.status_code == 400
    assert element_text(response.content.decode(), "displayname-error") == "Enter a display name."
    profile = await api(synapse, alice.access_token, "GET", f"/profile/{q(alice.user_id)}")
    assert profile["displayname"] == "Alice"


async def test_avatar_upload_sets_mxc_avatar_url(async_client, synapse, make_user):
    alice = make_user("alice", displayname="Alice")
    await sign_in(async_client, synapse, alice)
    picture = SimpleUploadedFile("me.png", png_bytes(), content_type="image/png")
    response = await async_client.post(PROFILE, {"form": "avatar", "avatar": picture})
    page = await followed(async_client, response)

    profile = await api(synapse, alice.access_token, "GET", f"/profile/{q(alice.user_id)}")
    mxc = profile["avatar_url"]
    assert mxc.startswith("mxc://localhost/")
    media_id = mxc.rsplit("/", 1)[1]
    # Shown through our media proxy's thumbnail, never the homeserver's URL.
    thumb = reverse("media:thumbnail", args=["localhost", media_id])
    assert f'src="{thumb}?width=96&amp;height=96&amp;method=crop"' in page
    picture_response = await async_client.get(f"{thumb}?width=96&height=96&method=crop")
    assert picture_response.status_code == 200

    # Removing it clears avatar_url.
    asked = asks_first(
        await async_client.post(PROFILE, {"form": "remove_avatar"}), "Remove your avatar?"
    )
    assert asked["form"] == ["remove_avatar"]
    profile = await api(synapse, alice.access_token, "GET", f"/profile/{q(alice.user_id)}")
    assert profile.get("avatar_url")
    response = await async_client.post(PROFILE, {"form": "remove_avatar", "confirm": "yes"})
    await followed(async_client, response)
    profile = await api(synapse, alice.access_token, "GET", f"/profile/{q(alice.user_id)}")
    assert not profile.get("avatar_url")


async def test_avatar_must_be_a_picture(async_client, synapse, make_user):
    alice = make_user("alice")
    await sign_in(async_client, synapse, alice)
    fake = SimpleUploadedFile("me.png", b"<svg onload=alert(1)>", content_type="image/png")
    response = await async_client.post(PROFILE, {"form": "avatar", "avatar": fake})
    assert response.status_code == 400
    assert "not a picture" in element_text(response.content.decode(), "avatar-error")
    profile = await api(synapse, alice.access_token, "GET", f"/profile/{q(alice.user_id)}")
    assert not profile.get("avatar_url")


# -- other people -------------------------------------------------------------------------------


async def test_other_users_profile_page(async_client, synapse, make_user):
    alice = make_user("alice")
    bob = make_user("bob", displayname="Bob <b>Builder</b>")
    await sign_in(async_client, synapse, alice)
    response = await async_client.get(user_url(bob.user_id))
    assert response.status_code == 200
    page = response.content.decode()
    assert element_text(page, "user-display-name") == "Bob <b>Builder</b>"
    assert "<b>Builder</b>" not in page  # escaped, not markup
    assert element_text(page, "user-id") == bob.user_id
    dm = re.search(r'id="start-dm" href="([^"]+)"', page)
    assert dm and html.unescape(dm.group(1)) == f"/rooms/dm/?user={q(bob.user_id)}"
    assert 'id="ignore-button"' in page


async def test_unknown_user_is_a_404_with_a_message(async_client, synapse, make_user):
    alice = make_user("alice")
    await sign_in(async_client, synapse, alice)
    response = await async_client.get(user_url("@nobody-here-at-all:localhost"))
    assert response.status_code == 404
    assert element_text(response.content.decode(), "user-error") == (
        "There is no user @nobody-here-at-all:localhost: their homeserver does not know that ID."
    )
    response = await async_client.get(user_url("not-a-user-id"))
    assert response.status_code == 404
    assert "is not a Matrix user ID" in element_text(response.content.decode(), "user-error")


async def test_ignore_and_unignore(async_client, synapse, make_user):
    alice = make_user("alice")
    bob = make_user("bob", displayname="Bob")
    carol = make_user("carol")
    path = f"/user/{q(alice.user_id)}/account_data/m.ignored_user_list"
    # Someone already ignored by another client stays ignored.
    await api(synapse, alice.access_token, "PUT", path, {"ignored_users": {carol.user_id: {}}})
    await sign_in(async_client, synapse, alice)

    page = await followed(
        async_client, await async_client.post(user_url(bob.user_id), {"ignore": "1"})
    )
    assert 'id="unignore-button"' in page and 'id="user-ignored"' in page
    content = await api(synapse, alice.access_token, "GET", path)
    assert set(content["ignored_users"]) == {bob.user_id, carol.user_id}

    page = await followed(
        async_client, await async_client.post(user_url(bob.user_id), {"ignore": "0"})
    )
    assert 'id="ignore-button"' in page and 'id="user-ignored"' not in page
    content = await api(synapse, alice.access_token, "GET", path)
    assert set(content["ignored_users"]) == {carol.user_id}


# -- devices ------------------------------------------------------------------------------------


def device_rows(page: str) -> dict[str, str]:
    rows = {}
    for match in re.finditer(
        r'<(?:li|div) class="device[^"]*"(?: id="this-device")? data-device-id="([^"]+)"'
        r".*?</(?:li|div)>",
        page,
        re.S,
    ):
        rows[html.unescape(match.group(1))] = match.group(0)
    return rows


async def test_device_list_marks_this_device(async_client, synapse, make_user):
    alice = make_user("alice")
    credential = await sign_in(async_client, synapse, alice)
    phone = await login(synapse, alice.localpart, alice.password)
    await api(
        synapse,
        phone.access_token,
        "PUT",
        f"/devices/{q(phone.device_id)}",
        {"display_name": "Phone"},
    )

    page = (await async_client.get(DEVICES)).content.decode()
    rows = device_rows(page)
    assert credential.device_id in rows and phone.device_id in rows and alice.device_id in rows
    this = re.search(r'id="this-device" data-device-id="([^"]+)"', page)
    assert this and this.group(1) == credential.device_id
    assert "this device" in rows[credential.device_id]
    assert "Phone" in rows[phone.device_id]
    assert "last seen" in rows[phone.device_id]
    # This device is never offered for signing out here.
    assert f'name="device" value="{credential.device_id}"' not in page
    assert f'name="device" value="{phone.device_id}"' in page


async def test_rename_this_device(async_client, synapse, make_user):
    alice = make_user("alice")
    credential = await sign_in(async_client, synapse, alice)
    response = await async_client.post(DEVICES, {"form": "rename", "display_name": "Work laptop"})
    page = await followed(async_client, response)
    assert "Work laptop" in device_rows(page)[credential.device_id]
    device = await api(synapse, alice.access_token, "GET", f"/devices/{q(credential.device_id)}")
    assert device["display_name"] == "Work laptop"


async def test_sign_out_another_device_with_password(async_client, synapse, make_user):
    alice = make_user("alice")
    credential = await sign_in(async_client, synapse, alice)
    phone = await login(synapse, alice.localpart, alice.password)
    response = await async_client.post(
        DEVICES,
        {
            "form": "signout",
            "scope": "selected",
            "device": [phone.device_id, credential.device_id],
            "password": alice.password,
        },
    )
    page = await followed(async_client, response)
    assert f"Signed out 1 device: {phone.device_id}." in page
    assert await whoami_errcode(synapse, phone.access_token) == "M_UNKNOWN_TOKEN"
    # This session (and the device not chosen) still work.
    assert await whoami_errcode(synapse, credential.access_token) is None
    assert await device_ids(synapse, credential.access_token) == {
        credential.device_id,
        alice.device_id,
    }
    assert phone.device_id not in device_rows(page)
    assert await Credential.objects.filter(pk=credential.pk).aexists()


async def test_sign_out_all_other_devices(async_client, synapse, make_user):
    alice = make_user("alice")
    credential = await sign_in(async_client, synapse, alice)
    phone = await login(synapse, alice.localpart, alice.password)
    response = await async_client.post(
        DEVICES, {"form": "signout", "scope": "all", "password": alice.password}
    )
    page = await followed(async_client, response)
    assert 'id="no-other-devices"' in page
    assert await device_ids(synapse, credential.access_token) == {credential.device_id}
    assert await whoami_errcode(synapse, phone.access_token) == "M_UNKNOWN_TOKEN"
    assert await whoami_errcode(synapse, credential.access_token) is None


async def test_wrong_password_signs_nothing_out(async_client, synapse, make_user):
    alice = make_user("alice")
    credential = await sign_in(async_client, synapse, alice)
    phone = await login(synapse, alice.localpart, alice.password)
    before = await device_ids(synapse, credential.access_token)
    response = await async_client.post(
        DEVICES,
        {"form": "signout", "scope": "selected", "device": phone.device_id, "password": "wrong"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert element_text(page, "signout-error") == (
        "That is not your password. No device was signed out."
    )
    # The choice is kept for the next try.
    assert f'value="{phone.device_id}" checked' in page
    assert await device_ids(synapse, credential.access_token) == before
    assert await whoami_errcode(synapse, phone.access_token) is None
    assert await whoami_errcode(synapse, credential.access_token) is None


async def test_sign_out_needs_a_choice_and_a_password(async_client, synapse, make_user):
    alice = make_user("alice")
    await sign_in(async_client, synapse, alice)
    phone = await login(synapse, alice.localpart, alice.password)
    response = await async_client.post(
        DEVICES, {"form": "signout", "scope": "selected", "password": alice.password}
    )
    assert response.status_code == 400
    assert (
        element_text(response.content.decode(), "signout-error")
        == "Choose the devices to sign out."
    )
    response = await async_client.post(
        DEVICES, {"form": "signout", "scope": "selected", "device": phone.device_id}
    )
    assert response.status_code == 400
    assert (
        element_text(response.content.decode(), "signout-error")
        == "Enter your password to confirm."
    )
    assert await whoami_errcode(synapse, phone.access_token) is None


# -- password -----------------------------------------------------------------------------------


async def test_change_password(async_client, synapse, make_user):
    alice = make_user("alice")
    credential = await sign_in(async_client, synapse, alice)
    page = (await async_client.get(PASSWORD)).content.decode()
    assert "stay signed in" in page
    new = "a-brand-new-password"
    response = await async_client.post(
        PASSWORD,
        {"current_password": alice.password, "new_password": new, "new_password_again": new},
    )
    page = await followed(async_client, response)
    assert "Your password has been changed." in page

    assert (await login(synapse, alice.localpart, new)).access_token
    with pytest.raises(MatrixAPIError) as refused:
        await login(synapse, alice.localpart, alice.password)
    assert refused.value.errcode == "M_FORBIDDEN"
    # Our session, and the other devices, survive (logout_devices: false).
    assert await whoami_errcode(synapse, credential.access_token) is None
    assert await whoami_errcode(synapse, alice.access_token) is None
    assert (await async_client.get(DEVICES)).status_code == 200


async def test_wrong_current_password(async_client, synapse, make_user):
    alice = make_user("alice")
    await sign_in(async_client, synapse, alice)
    response = await async_client.post(
        PASSWORD,
        {"current_password": "nope", "new_password": "x-new-1", "new_password_again": "x-new-1"},
    )
    assert response.status_code == 400
    assert element_text(response.content.decode(), "password-error") == (
        "Changing your password: that is not your current password. Nothing was changed."
    )
    assert (await login(synapse, alice.localpart, alice.password)).access_token
    with pytest.raises(MatrixAPIError):
        await login(synapse, alice.localpart, "x-new-1")


async def test_new_passwords_must_match(async_client, synapse, make_user):
    alice = make_user("alice")
    await sign_in(async_client, synapse, alice)
    response = await async_client.post(
        PASSWORD,
        {"current_password": alice.password, "new_password": "one", "new_password_again": "two"},
    )
    assert response.status_code == 400
    assert element_text(response.content.decode(), "password-error") == (
        "The two new passwords are not the same."
    )
    assert (await login(synapse, alice.localpart, alice.password)).access_token


async def test_settings_need_sign_in(async_client):
    for url in (PROFILE, DEVICES, PASSWORD, user_url("@bob:localhost")):
        response = await async_client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))

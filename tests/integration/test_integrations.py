"""The integrator's corner (issue 5) against a real Synapse: Settings > Advanced (homeserver URL,
user and device ID, the session's access token behind a password check), tokens for
automations (separate devices, shown once, revocable), and a room's ready-to-paste settings for
n8n, Windmill, Netdata and curl, which are executed here as the tools would run them.

The person signs in through the login form with `async_client`; what the homeserver did is
checked with plain client-server calls as that user (devices, whoami, messages) and in
Synapse's access log.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from django.urls import reverse

from tests.client_helpers import asks_first
from tests.synapse_fixtures import MatrixAPIError, matrix_api
from webclient.demo.homeserver import LocalSynapse
from webclient.matrix import devices as automation
from webclient.matrix.models import AutomationDevice, Credential
from webclient.web import snippets

pytestmark = pytest.mark.django_db(transaction=True)

CS = "/_matrix/client/v3"
ADVANCED = "/settings/advanced/"
REVEAL = "/settings/advanced/reveal/"
AUTOMATION = "/settings/automation/"
CREATE = "/settings/automation/new/"


# -- helpers ------------------------------------------------------------------------------------


def q(value: str) -> str:
    return quote(value, safe="")


async def api(hs, token: str, method: str, path: str, body=None) -> dict:
    return await asyncio.to_thread(matrix_api, hs.url, token, method, CS + path, body)


async def sign_in(client, hs, user, mode: str = "password") -> Credential:
    data = {"mode": mode, "homeserver": hs.url}
    if mode == "password":
        data |= {"username": user.localpart, "password": user.password}
    else:
        data["access_token"] = user.access_token
    response = await client.post("/login/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    return await Credential.objects.filter(user_id=user.user_id).alatest("created")


def page(response) -> str:
    return response.content.decode()


def field_value(body: str, element_id: str) -> str | None:
    """The value of a readonly `<input id>` or the text of a `<textarea id>`."""
    tag = re.search(rf'<input[^>]*\bid="{re.escape(element_id)}"[^>]*>', body)
    if tag:
        value = re.search(r'\bvalue="([^"]*)"', tag.group(0))
        return html.unescape(value.group(1)) if value else ""
    area = re.search(
        rf'<textarea[^>]*\bid="{re.escape(element_id)}"[^>]*>(.*?)</textarea>', body, re.S
    )
    return html.unescape(area.group(1)) if area else None


def element_text(body: str, element_id: str) -> str | None:
    match = re.search(rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"[^>]*>(.*?)</\1>', body, re.S)
    if match is None:
        return None
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", match.group(2))).split())


def assert_no_store(response) -> None:
    assert "no-store" in response.get("Cache-Control", ""), response.get("Cache-Control")


async def devices(hs, user) -> dict[str, str]:
    """device ID -> display name, as the homeserver lists them for the user."""
    answer = await api(hs, user.access_token, "GET", "/devices")
    return {d["device_id"]: d.get("display_name") or "" for d in answer["devices"]}


async def whoami(hs, token: str) -> dict:
    return await api(hs, token, "GET", "/account/whoami")


async def whoami_error(hs, token: str) -> tuple[int, str | None]:
    try:
        await whoami(hs, token)
    except MatrixAPIError as exc:
        return exc.status, exc.errcode
    return 200, None


async def create_room(hs, user, name: str = "Alerts") -> str:
    answer = await api(hs, user.access_token, "POST", "/createRoom", {"name": name})
    return answer["room_id"]


async def room_messages(hs, user, room_id: str) -> list[dict]:
    answer = await api(hs, user.access_token, "GET", f"/rooms/{q(room_id)}/messages?dir=b&limit=50")
    return [e for e in answer["chunk"] if e["type"] == "m.room.message"]


async def wait_for_message(hs, user, room_id: str, predicate, timeout: float = 15) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        for event in await room_messages(hs, user, room_id):
            if predicate(event):
                return event
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no such message in {room_id}")
        await asyncio.sleep(0.2)


async def create_token(client, name: str, password: str, room: str | None = None):
    data = {"name": name, "password": password}
    if room:
        data["room"] = room
    return await client.post(CREATE, data)


async def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    return await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, timeout=60, **kwargs
    )


# What Netdata's alarm-notify.sh does with the Matrix block of health_alarm_notify.conf: its
# `send_matrix` and `urlencode` (netdata/netdata, src/health/notifications/alarm-notify.sh.in),
# with the alarm variables the script gets from Netdata filled in. The config block is sourced
# exactly as the page gives it.
NETDATA_SEND_MATRIX = textwrap.dedent(
    r"""
    source "$1"

    urlencode() {
      local string="${1}" strlen encoded pos c o
      strlen=${#string}
      for ((pos = 0; pos < strlen; pos++)); do
        c=${string:pos:1}
        case "${c}" in
        [-_.~a-zA-Z0-9]) o="${c}" ;;
        *) printf -v o '%%%02x' "'${c}" ;;
        esac
        encoded+="${o}"
      done
      REPLY="${encoded}"
      echo "${REPLY}"
    }

    status="WARNING"
    host="web-01"
    status_message="needs attention"
    name="disk_space_usage"
    chart="disk_space._"
    goto_url="https://registry.my-netdata.io/goto-host-from-alarm.html"
    alarm="disk space usage = 91.2%"
    info="total space utilization of the drive"

    { [ -z "${MATRIX_HOMESERVER}" ] || [ -z "${MATRIX_ACCESSTOKEN}" ]; } && SEND_MATRIX="NO"
    [ "${SEND_MATRIX}" != "YES" ] && { echo "matrix disabled"; exit 3; }

    emoji="⚠️"
    for room in ${DEFAULT_RECIPIENT_MATRIX}; do
      txnid="nd_$(date +%s)_$$_$RANDOM"
      webhook="$MATRIX_HOMESERVER/_matrix/client/r0/rooms/$(urlencode $room)/send/m.room.message/$txnid"
      payload="$(
      cat <<EOF
      {
        "msgtype": "m.notice",
        "format": "org.matrix.custom.html",
          "formatted_body": "${emoji} ${host} ${status_message} - <b>${name//_/ }</b><br>${chart}<br><a href=\"${goto_url}\">${alarm}</a><br><i>${info}</i>",
          "body": "${emoji} ${host} ${status_message} - ${name//_/ } ${chart} ${goto_url} ${alarm} ${info}"
      }
    EOF
      )"
      curl --write-out "%{http_code}" --output "$2" --silent --show-error -X PUT \
        -H "Authorization: Bearer ${MATRIX_ACCESSTOKEN}" -H "Content-Type: application/json" \
        --data "${payload}" "${webhook}"
      echo " ${webhook%/*}"
    done
    """  # noqa: E501 - netdata's lines as they are
)


async def run_netdata(conf: str, tmp_path: Path) -> tuple[str, dict, str]:
    """Send one alarm the way Netdata would: (HTTP status, answer, URL without the txn)."""
    conf_path = tmp_path / "health_alarm_notify.conf"
    conf_path.write_text(conf)
    script = tmp_path / "send_matrix.sh"
    script.write_text(NETDATA_SEND_MATRIX)
    out = tmp_path / "answer.json"
    result = await run(["bash", str(script), str(conf_path), str(out)])
    assert result.returncode == 0, result.stderr
    code, url = result.stdout.split(" ", 1)
    return code, json.loads(out.read_text() or "{}"), url.strip()


@pytest.fixture(autouse=True)
def _needs_tools() -> None:
    for tool in ("curl", "bash"):
        assert shutil.which(tool), f"{tool} is needed to run the generated snippets"


# -- Settings > Advanced -----------------------------------------------------------------------


async def test_settings_need_sign_in(async_client):
    for url in (ADVANCED, AUTOMATION, "/rooms/!x:localhost/integrations/"):
        response = await async_client.get(url)
        assert response.status_code == 302
        assert urlsplit(response["Location"]).path == "/login/"
    response = await async_client.post(REVEAL, {"password": "x"})
    assert response.status_code == 302


async def test_advanced_page_shows_homeserver_user_and_device_but_not_the_token(
    async_client, synapse, make_user
):
    user = make_user("adv")
    credential = await sign_in(async_client, synapse, user)
    response = await async_client.get(ADVANCED)
    assert response.status_code == 200
    body = page(response)
    assert field_value(body, "homeserver-url") == synapse.url
    assert 'data-copy-target="homeserver-url"' in body
    assert element_text(body, "user-id") == user.user_id
    assert credential.device_id and credential.device_id in element_text(body, "device-id")
    assert credential.access_token not in body
    assert field_value(body, "revealed-token") is None
    assert 'id="reveal-form"' in body
    assert_no_store(response)
    # The header of every page links here.
    rooms = page(await async_client.get("/rooms/"))
    assert 'id="app-settings-link" href="/settings/advanced/"' in rooms


async def test_reveal_needs_the_right_password_and_shows_the_token_only_in_that_response(
    async_client, synapse, make_user
):
    user = make_user("reveal")
    room_id = await create_room(synapse, user)
    credential = await sign_in(async_client, synapse, user)
    token = credential.access_token
    before = await devices(synapse, user)
    logins = synapse.count_requests("/login", user_id=None)

    for wrong in ("not-the-password", user.password + " "):
        response = await async_client.post(REVEAL, {"password": wrong})
        assert response.status_code == 403
        body = page(response)
        assert token not in body
        assert field_value(body, "revealed-token") is None
        assert element_text(body, "reveal-error") == automation.WRONG_PASSWORD
        assert_no_store(response)

    response = await async_client.post(REVEAL, {"password": ""})
    assert response.status_code == 400
    assert token not in page(response)

    response = await async_client.post(REVEAL, {"password": user.password})
    assert response.status_code == 200
    body = page(response)
    assert field_value(body, "revealed-token") == token
    assert body.count(token) == 1
    assert 'data-copy-target="revealed-token"' in body
    assert_no_store(response)

    # The check made no device (and no /login): it was UIA on an empty /delete_devices.
    assert await devices(synapse, user) == before
    assert synapse.count_requests("/login", user_id=None) == logins
    assert synapse.count_requests("POST /_matrix/client/v3/delete_devices") >= 2
    # Still signed in, the same device.
    assert (await whoami(synapse, token))["device_id"] == credential.device_id

    # No page reached with GET carries the token.
    for url in (
        ADVANCED,
        AUTOMATION,
        "/rooms/",
        f"/rooms/{q(room_id)}/",
        f"/rooms/{q(room_id)}/integrations/",
    ):
        response = await async_client.get(url)
        assert response.status_code == 200, url
        assert token not in page(response), url


async def test_reveal_for_a_token_login_is_password_gated_too(async_client, synapse, make_user):
    user = make_user("pasted")
    credential = await sign_in(async_client, synapse, user, mode="token")
    assert not credential.owns_device
    response = await async_client.post(REVEAL, {"password": "wrong"})
    assert response.status_code == 403
    assert user.access_token not in page(response)
    response = await async_client.post(REVEAL, {"password": user.password})
    assert response.status_code == 200
    assert field_value(page(response), "revealed-token") == user.access_token


class UIATimeoutSynapse(LocalSynapse):
    """Synapse that lets a device skip UIA for 5 minutes after passing it once."""

    def build_config(self) -> dict:
        return {**super().build_config(), "ui_auth": {"session_timeout": "5m"}}


@pytest.fixture(scope="module")
def uia_timeout_synapse(tmp_path_factory) -> Iterator[LocalSynapse]:
    hs = UIATimeoutSynapse(tmp_path_factory.mktemp("synapse-uia-timeout"))
    with hs:
        yield hs


async def test_reveal_still_checks_the_password_when_the_homeserver_skips_uia(
    async_client, uia_timeout_synapse
):
    hs = uia_timeout_synapse
    user = await asyncio.to_thread(hs.register, "skipper", "pw-skipper-1")
    credential = await sign_in(async_client, hs, user)
    response = await async_client.post(REVEAL, {"password": user.password})
    assert response.status_code == 200
    # Now UIA is skipped for this device: a wrong password must still be refused.
    logins = hs.count_requests("POST /_matrix/client/v3/login")
    response = await async_client.post(REVEAL, {"password": "wrong"})
    assert response.status_code == 403, page(response)[:500]
    assert hs.count_requests("POST /_matrix/client/v3/login") == logins + 1  # the fallback
    assert credential.access_token not in page(response)
    response = await async_client.post(REVEAL, {"password": user.password})
    assert response.status_code == 200
    assert field_value(page(response), "revealed-token") == credential.access_token
    # The fallback's throw-away device is gone again.
    names = (await devices(hs, user)).values()
    assert automation.VERIFY_DEVICE_NAME not in names


# -- tokens for automations ----------------------------------------------------------------------


async def test_create_an_automation_token_shown_once_and_listed(async_client, synapse, make_user):
    user = make_user("auto")
    credential = await sign_in(async_client, synapse, user)
    before = await devices(synapse, user)

    response = await create_token(async_client, "netdata alerts", "wrong")
    assert response.status_code == 400
    assert element_text(page(response), "create-error") == automation.WRONG_PASSWORD
    assert await devices(synapse, user) == before
    assert not await AutomationDevice.objects.aexists()

    response = await create_token(async_client, "netdata alerts", user.password)
    assert response.status_code == 200
    assert_no_store(response)
    body = page(response)
    token = field_value(body, "new-token-value")
    assert token and token != credential.access_token
    assert credential.access_token not in body
    me = await whoami(synapse, token)
    assert me["user_id"] == user.user_id
    device_id = me["device_id"]
    assert device_id not in before and device_id != credential.device_id
    assert (await devices(synapse, user))[device_id] == "automation: netdata alerts"

    record = await AutomationDevice.objects.aget(device_id=device_id)
    assert record.user_id == user.user_id and record.name == "netdata alerts"
    assert token not in record.access_token_encrypted  # encrypted at rest

    # Listed on reload, never shown again.
    response = await async_client.get(AUTOMATION)
    body = page(response)
    assert token not in body
    assert field_value(body, "new-token-value") is None
    assert f'data-device-id="{device_id}"' in body
    assert "automation: netdata alerts" in body
    assert "You have 1." in page(await async_client.get(ADVANCED))

    response = await create_token(async_client, "   ", user.password)
    assert response.status_code == 400
    assert await AutomationDevice.objects.acount() == 1


async def test_room_integrations_give_settings_that_post_and_stop_after_revoke(
    async_client, synapse, make_user, tmp_path
):
    user = make_user("integ")
    room_id = await create_room(synapse, user, "Monitoring")
    credential = await sign_in(async_client, synapse, user)
    url = f"/rooms/{q(room_id)}/integrations/"

    # Without a fresh token: the placeholder, never the session's token.
    response = await async_client.get(url)
    assert response.status_code == 200
    assert_no_store(response)
    body = page(response)
    assert credential.access_token not in body
    assert field_value(body, "room-id-value") == room_id
    assert 'data-copy-target="room-id-value"' in body
    assert field_value(body, "n8n-1") == snippets.PLACEHOLDER
    assert field_value(body, "n8n-2") == synapse.url
    assert json.loads(field_value(body, "windmill-value")) == {
        "baseUrl": synapse.url,
        "token": snippets.PLACEHOLDER,
    }
    assert f'MATRIX_ACCESSTOKEN="{snippets.PLACEHOLDER}"' in field_value(body, "netdata-value")
    room_page = page(await async_client.get(f"/rooms/{q(room_id)}/"))
    link = reverse("rooms:integrations", args=[room_id])
    assert f'id="integrations-link" href="{link}"' in room_page

    # Create a token from the room's page: filled in everywhere, in this response only.
    response = await create_token(async_client, "netdata alerts", user.password, room=room_id)
    assert response.status_code == 200, element_text(page(response), "create-error")
    assert_no_store(response)
    body = page(response)
    token = field_value(body, "n8n-1")
    assert token != snippets.PLACEHOLDER and token != credential.access_token
    assert credential.access_token not in body
    device_id = (await whoami(synapse, token))["device_id"]
    assert field_value(body, "n8n-2") == synapse.url
    assert json.loads(field_value(body, "windmill-value")) == {
        "baseUrl": synapse.url,
        "token": token,
    }
    netdata_conf = field_value(body, "netdata-value")
    for line in (
        'SEND_MATRIX="YES"',
        f'MATRIX_HOMESERVER="{synapse.url}"',
        f'MATRIX_ACCESSTOKEN="{token}"',
        f'DEFAULT_RECIPIENT_MATRIX="{room_id}"',
    ):
        assert line in netdata_conf.splitlines(), line
    curl_command = field_value(body, "curl-value")
    assert token in curl_command
    assert token not in page(await async_client.get(url))

    # The curl command, run as is, posts the test message.
    result = await run(["sh", "-c", curl_command])
    assert result.returncode == 0, result.stderr
    assert "event_id" in json.loads(result.stdout), result.stdout
    event = await wait_for_message(
        synapse, user, room_id, lambda e: e["content"].get("body") == snippets.TEST_MESSAGE
    )
    assert event["sender"] == user.user_id
    assert event["event_id"] == json.loads(result.stdout)["event_id"]
    # Run again: a new transaction, a second message.
    await asyncio.sleep(1.1)
    again = await run(["sh", "-c", curl_command])
    assert json.loads(again.stdout)["event_id"] != event["event_id"]

    # Netdata's alarm-notify.sh with this config block posts the alarm.
    code, answer, sent_to = await run_netdata(netdata_conf, tmp_path)
    assert code == "200", answer
    encoded = "".join(c if c.isalnum() or c in "-_.~" else f"%{ord(c):02x}" for c in room_id)
    assert sent_to == f"{synapse.url}/_matrix/client/r0/rooms/{encoded}/send/m.room.message"
    alarm = await wait_for_message(
        synapse, user, room_id, lambda e: e["event_id"] == answer["event_id"]
    )
    assert alarm["content"]["msgtype"] == "m.notice"
    assert "web-01 needs attention - disk space usage" in alarm["content"]["body"]

    # Revoke: the device is gone, its token fails, the browser session carries on.
    record = await AutomationDevice.objects.aget(device_id=device_id)
    revoke = f"/settings/automation/{record.pk}/revoke/"
    asks_first(await async_client.post(revoke), "The automation using it stops working.")
    assert (await whoami(synapse, token))["user_id"] == user.user_id
    response = await async_client.post(revoke, {"confirm": "yes"})
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == AUTOMATION
    assert await whoami_error(synapse, token) == (401, "M_UNKNOWN_TOKEN")
    assert device_id not in await devices(synapse, user)
    assert not await AutomationDevice.objects.aexists()

    result = await run(["sh", "-c", curl_command])
    answer = json.loads(result.stdout)
    assert answer["errcode"] == "M_UNKNOWN_TOKEN", answer
    code, answer, _ = await run_netdata(netdata_conf, tmp_path)
    assert (code, answer.get("errcode")) == ("401", "M_UNKNOWN_TOKEN")

    assert (await whoami(synapse, credential.access_token))["device_id"] == credential.device_id
    assert await Credential.objects.filter(pk=credential.pk).aexists()
    response = await async_client.get("/rooms/")
    assert response.status_code == 200
    listing = page(await async_client.get(AUTOMATION))
    assert device_id not in listing and element_text(listing, "automation-empty") == "None yet."


async def test_integrations_choose_a_device_and_refuse_other_rooms(
    async_client, synapse, make_user
):
    user = make_user("choose")
    other = make_user("other")
    room_id = await create_room(synapse, user)
    foreign = await create_room(synapse, other)
    await sign_in(async_client, synapse, user)
    response = await create_token(async_client, "windmill", user.password)
    record = await AutomationDevice.objects.aget()
    token = field_value(page(response), "new-token-value")

    response = await async_client.get(f"/rooms/{q(room_id)}/integrations/?device={record.pk}")
    body = page(response)
    assert f'<option value="{record.pk}" selected>' in body
    assert token not in body
    assert 'the device "automation: windmill"' in field_value(body, "netdata-value")

    response = await async_client.get(f"/rooms/{q(foreign)}/integrations/")
    assert response.status_code == 404
    response = await async_client.get(f"/rooms/{q('#nowhere:localhost')}/integrations/")
    assert response.status_code == 404

    # Creating from a room page: not for a room the person is not in (no device is made),
    # and a wrong password leaves the page with its placeholder and the error.
    before = await devices(synapse, user)
    response = await create_token(async_client, "other", user.password, room=foreign)
    assert response.status_code == 404
    response = await create_token(async_client, "other", "wrong", room=room_id)
    assert response.status_code == 400
    body = page(response)
    assert element_text(body, "create-error") == automation.WRONG_PASSWORD
    assert field_value(body, "n8n-1") == snippets.PLACEHOLDER
    assert await devices(synapse, user) == before
    assert await AutomationDevice.objects.acount() == 1


async def test_revoking_a_device_already_removed_elsewhere(async_client, synapse, make_user):
    user = make_user("gone")
    await sign_in(async_client, synapse, user)
    response = await create_token(async_client, "n8n", user.password)
    token = field_value(page(response), "new-token-value")
    await api(synapse, token, "POST", "/logout", {})

    body = page(await async_client.get(AUTOMATION))
    assert "no longer on the homeserver" in body
    record = await AutomationDevice.objects.aget()
    response = await async_client.post(
        f"/settings/automation/{record.pk}/revoke/", {"confirm": "yes"}, follow=True
    )
    assert response.status_code == 200
    assert "already been signed out elsewhere" in page(response)
    assert not await AutomationDevice.objects.aexists()


async def test_another_accounts_device_cannot_be_revoked(async_client, synapse, make_user):
    owner, intruder = make_user("owner"), make_user("intruder")
    await sign_in(async_client, synapse, owner)
    response = await create_token(async_client, "cron", owner.password)
    token = field_value(page(response), "new-token-value")
    record = await AutomationDevice.objects.aget()
    await async_client.post("/logout/")
    await sign_in(async_client, synapse, intruder)
    assert record.device_id not in page(await async_client.get(AUTOMATION))
    await async_client.post(f"/settings/automation/{record.pk}/revoke/", {"confirm": "yes"})
    assert await AutomationDevice.objects.filter(pk=record.pk).aexists()
    assert (await whoami(synapse, token))["user_id"] == owner.user_id

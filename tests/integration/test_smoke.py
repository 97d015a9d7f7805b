import pytest

from webclient.matrix.models import Credential


@pytest.mark.django_db(transaction=True)
async def test_password_login_then_rooms(async_client, synapse, make_user):
    user = make_user("smoke")
    response = await async_client.post(
        "/login/",
        {
            "mode": "password",
            "homeserver": synapse.url,
            "username": user.localpart,
            "password": user.password,
        },
    )
    assert response.status_code == 302, response.content
    credential = await Credential.objects.aget(user_id=user.user_id)
    assert credential.access_token not in credential.access_token_encrypted
    response = await async_client.get("/rooms/")
    assert response.status_code == 200, (response.headers.get("Location"), async_client.cookies)
    assert credential.access_token.encode() not in response.content

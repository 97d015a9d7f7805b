"""Configuration rules whose breakage would be silent."""

from django.conf import settings
from django.utils.module_loading import import_string


def test_every_middleware_is_async_capable():
    # One sync-only middleware makes Django run async views through async_to_sync in a
    # short-lived event loop, which kills the sync loops those views start.
    for path in settings.MIDDLEWARE:
        middleware = import_string(path)
        assert getattr(middleware, "async_capable", False), path


def test_session_cookie_is_httponly_and_samesite():
    assert settings.SESSION_COOKIE_HTTPONLY is True
    assert settings.SESSION_COOKIE_SAMESITE in {"Lax", "Strict"}


def test_secret_key_is_not_a_constant_in_the_code():
    source = (settings.BASE_DIR / "webclient" / "settings.py").read_text()
    assert settings.SECRET_KEY not in source
    assert len(settings.SECRET_KEY) >= 40

"""Deployment checks of our own, run by `manage.py check --deploy` beside Django's: the
mistakes that the documented production settings (deploy/webclient.env.example) invite."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=True)
def check_deployment(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    found: list[Error | Warning] = []
    if settings.SECRET_KEY.startswith("change-me"):
        found.append(
            Error(
                "SECRET_KEY is the placeholder of deploy/webclient.env.example.",
                hint='Set a long random one: python3 -c "import secrets; '
                'print(secrets.token_urlsafe(50))"',
                id="webclient.E001",
            )
        )
    if settings.STATIC_COLLECTED and not (settings.STATIC_ROOT / "staticfiles.json").exists():
        found.append(
            Error(
                f"STATIC_COLLECTED is on but {settings.STATIC_ROOT} has no staticfiles.json: "
                "every page would fail.",
                hint="Run `manage.py collectstatic --noinput` with these settings first.",
                id="webclient.E002",
            )
        )
    database = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" in database and "hosts" not in settings.CHANNEL_LAYERS["default"]["CONFIG"]:
        found.append(
            Warning(
                "PostgreSQL without REDIS_URL: processes cannot reach each other's pages.",
                hint="Set REDIS_URL when more than one process serves the site.",
                id="webclient.W001",
            )
        )
    return found

"""The one entry point: `daphne webclient.asgi:application` serves pages and websockets."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webclient.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from channels.sessions import SessionMiddlewareStack  # noqa: E402

from webclient.ops.lifecycle import Operations, take_sigterm_from_daphne  # noqa: E402
from webclient.routing import websocket_urlpatterns  # noqa: E402

# Operations: /healthz, /readyz and /metrics, the counts behind the metrics, and a graceful
# shutdown on SIGTERM (websockets closed with 1012, devices handed over; webclient/ops/).
application = Operations(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            # The socket is authenticated by the session cookie, so it must refuse pages of
            # other origins (cross-site websocket hijacking).
            "websocket": AllowedHostsOriginValidator(
                SessionMiddlewareStack(URLRouter(websocket_urlpatterns))
            ),
        }
    )
)
take_sigterm_from_daphne(application)

import gc  # noqa: E402

# Everything loaded so far lives as long as the process: keep it out of the collector's
# full passes, which otherwise walk it while hundreds of screens wait for a frame.
gc.freeze()
# Fewer young-generation passes: a fan-out to hundreds of screens allocates in bursts.
gc.set_threshold(20_000, 20, 20)

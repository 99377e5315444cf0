"""ASGI entry point: HTTP goes to Django, WebSockets to the apps' consumers."""

# region: django-first
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings.dev")

# Build Django's application first: it sets Django up, and the consumers below
# import models, which needs the app registry ready.
django_asgi_app = get_asgi_application()
# endregion

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

import chat.routing  # noqa: E402
import liveblog.routing  # noqa: E402
import streams.routing  # noqa: E402
from project import gc_tuning, shutdown  # noqa: E402
from streams.origins import SameOriginValidator  # noqa: E402
from streams.sessions import SocketAuthMiddlewareStack, SocketSessionMiddleware  # noqa: E402

# A server stopped with SIGTERM exits cleanly (see project/shutdown.py).
shutdown.install()

# region: asgi-stack
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            SameOriginValidator(
                # The session is found here, once, so that channels' session middleware
                # stands aside rather than inspect it on every frame; the user is then
                # found as AuthMiddlewareStack finds it, in a trip shared with the other
                # sockets opening at the same moment (streams/sessions.py).
                SocketSessionMiddleware(
                    SocketAuthMiddlewareStack(
                        URLRouter(
                            chat.routing.websocket_urlpatterns  # type: ignore[arg-type]
                            + liveblog.routing.websocket_urlpatterns
                            + streams.routing.websocket_urlpatterns
                        )
                    )
                )
            )
        ),
    }
)
# endregion

# Start-up objects leave the collector's sight; collections become rarer.
gc_tuning.tune()

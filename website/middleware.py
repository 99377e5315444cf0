"""Site-wide middleware: forwarded headers only from the proxy, and the Content Security Policy."""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings

from streams.proxies import trusted_proxy


class _Middleware:
    """Runs `process(request)` before the view and `respond(response)` after, sync or async."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.async_mode:
            return self.__acall__(request)
        self.process(request)
        return self.respond(self.get_response(request))

    async def __acall__(self, request):
        self.process(request)
        return self.respond(await self.get_response(request))

    def process(self, request) -> None:
        pass

    def respond(self, response):
        return response


class TrustedProxyMiddleware(_Middleware):
    """Drop every X-Forwarded-* header unless the request came straight from a trusted proxy.

    Django believes `X-Forwarded-Proto` (SECURE_PROXY_SSL_HEADER) from whoever
    sends it. Behind nginx that is fine, because nginx overwrites it; this makes
    it hold too for a client that reaches an app server some other way.
    TRUSTED_PROXIES lists the proxies' addresses or networks.
    """

    def process(self, request) -> None:
        if not trusted_proxy(request.META.get("REMOTE_ADDR", "")):
            for key in [key for key in request.META if key.startswith("HTTP_X_FORWARDED_")]:
                del request.META[key]


class ContentSecurityPolicyMiddleware(_Middleware):
    """Send settings.CONTENT_SECURITY_POLICY: scripts from this site's files only, never inline."""

    def __init__(self, get_response) -> None:
        super().__init__(get_response)
        self.header = "; ".join(
            f"{directive} {' '.join(sources)}".strip()
            for directive, sources in settings.CONTENT_SECURITY_POLICY.items()
        )

    def respond(self, response):
        if self.header:
            response.headers.setdefault("Content-Security-Policy", self.header)
        return response

"""Forwarded headers only from trusted proxies; a Content Security Policy on every page."""

import pytest
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from website.middleware import TrustedProxyMiddleware


def seen_by_view(remote_addr: str, trusted: list[str]) -> dict:
    seen = {}

    def view(request):
        seen["secure"] = request.is_secure()
        seen["forwarded"] = sorted(k for k in request.META if k.startswith("HTTP_X_FORWARDED"))
        return HttpResponse()

    with override_settings(
        TRUSTED_PROXIES=trusted, SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")
    ):
        request = RequestFactory().get(
            "/",
            REMOTE_ADDR=remote_addr,
            HTTP_X_FORWARDED_PROTO="https",
            HTTP_X_FORWARDED_FOR="1.2.3.4",
        )
        TrustedProxyMiddleware(view)(request)
    return seen


def test_forwarded_headers_count_only_from_a_trusted_proxy():
    assert seen_by_view("172.28.0.10", ["172.28.0.10"]) == {
        "secure": True,
        "forwarded": ["HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO"],
    }
    assert seen_by_view("10.1.2.3", ["10.0.0.0/8"])["secure"] is True
    for addr, trusted in (("203.0.113.9", ["172.28.0.10"]), ("127.0.0.1", []), ("", ["::1"])):
        assert seen_by_view(addr, trusted) == {"secure": False, "forwarded": []}


@pytest.mark.django_db
def test_every_page_carries_a_policy_without_inline_script(client):
    for url in ("/", "/accounts/login/", "/live/", "/admin/login/"):
        policy = client.get(url)["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives["script-src"] == "'self'", url
        assert directives["style-src"] == "'self'"
        assert directives["object-src"] == "'none'"
        assert directives["frame-ancestors"] == "'none'"
        assert "unsafe-inline" not in policy

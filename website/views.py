"""Site-wide pages: home, sign-up, the tutorial, the health check, and the lockout in front of
every login."""

import asyncio
import logging
import math
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from chat.selectors import room_get, room_list
from liveblog.selectors import liveblog_list
from streams.broadcast import channel_layer
from streams.proxies import address_key
from streams.ratelimit import rate_limited

from . import tutorial
from .forms import SignupForm
from .logins import login_locked_until, request_address

logger = logging.getLogger(__name__)

HEALTH_TIMEOUT = 3.0


# Where a new account is sent first, when the room exists and is public.
WELCOME_ROOM = "lobby"


def home(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"rooms": room_list()[:10], "liveblogs": liveblog_list()[:5]}
    # Once, on the first page a new account sees.
    if request.session.pop("welcome", False):
        lobby = room_get(slug=WELCOME_ROOM)
        context["welcome"] = {"lobby": lobby if lobby is not None and lobby.is_public else None}
    return render(request, "home.html", context)


def login_guarded(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """`view` (a login view), answering a locked-out username with 429 before any password check."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method == "POST":
            username = request.POST.get(get_user_model().USERNAME_FIELD, "")
            until = login_locked_until(username=username, address=request_address(request))
            if until is not None:
                minutes = math.ceil((until - time.time()) / 60)
                response = render(
                    request, "registration/locked_out.html", {"minutes": minutes}, status=429
                )
                response["Retry-After"] = str(math.ceil(until - time.time()))
                return response
        return view(request, *args, **kwargs)

    return guarded


def _signups_limited(request: HttpRequest) -> bool:
    """Count a sign-up attempt against the client's address; True when it is over the limit.

    Every attempt counts, taken or not: each one tells whether a name is free,
    so this bounds how fast anyone can list the names that exist.
    """
    return rate_limited(
        f"signup:{address_key(request_address(request))}",
        limit=settings.SIGNUP_LIMIT,
        window=settings.SIGNUP_WINDOW,
    )


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    if request.method == "POST" and _signups_limited(request):
        # The form is not even judged: a refused attempt learns nothing about names.
        form = SignupForm(initial={"username": request.POST.get("username", "")})
        refused = "Too many sign-ups from your network. Please try again later."
        context = {"form": form, "refused": refused}
        return render(request, "registration/signup.html", context, status=429)
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.get_username()}! Your account is ready.")
        request.session["welcome"] = True
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form})


def learn(request: HttpRequest, chapter: str = tutorial.INDEX) -> HttpResponse:
    found = tutorial.chapter_get(slug=chapter)
    if found is None:
        raise Http404("No such chapter.")
    return render(
        request,
        "website/learn.html",
        {"chapter": found, "contents": tutorial.chapter_list()},
    )


def learn_source(request: HttpRequest, path: str) -> HttpResponse:
    source = tutorial.source_get(path=path)
    if source is None:
        raise Http404("The tutorial links to no such file.")
    return render(request, "website/learn_source.html", {"source": source})


def _database_ok() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    connection.close()


async def _channel_layer_ok() -> None:
    layer = channel_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "healthz.ping"})
    message = await layer.receive(channel)
    if message.get("type") != "healthz.ping":
        raise RuntimeError("channel layer returned a different message")


@never_cache
@require_GET
async def healthz(request: HttpRequest) -> JsonResponse:
    """200 when a real query and a real layer round trip succeed; 503 naming what failed."""
    checks = {
        "database": sync_to_async(_database_ok, thread_sensitive=False),
        "channel_layer": _channel_layer_ok,
    }
    report = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check(), HEALTH_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - any failure is the answer
            logger.warning("healthz: %s failed: %r", name, exc)
            report[name] = f"error: {type(exc).__name__}"
        else:
            report[name] = "ok"
    healthy = all(value == "ok" for value in report.values())
    return JsonResponse(report, status=200 if healthy else 503)

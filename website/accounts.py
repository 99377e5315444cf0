"""Account pages: log in (saying what it is for), a person's page, your profile, and
password change and reset (Django's views, on the site's templates and limits)."""

from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractUser
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve
from django.views.decorators.http import require_http_methods

from chat.selectors import room_get
from people.selectors import display_name_of, person_card, person_get
from people.services import profile_update
from streams.proxies import address_key
from streams.ratelimit import rate_limited

from .forms import ProfileForm
from .logins import request_address

CONTINUE = "Log in to continue."


def login_reason(next_url: str) -> str:
    """Why the login page was opened, from where it will go next: "" when it was not sent.

    Only a public room is named: a private room's name is its members' business.
    """
    if not next_url:
        return ""
    try:
        match = resolve(urlsplit(next_url).path)
    except Resolver404:
        return CONTINUE
    if match.view_name == "chat:detail":
        room = room_get(slug=match.kwargs["slug"])
        if room is not None and room.is_public:
            return f"Log in to join the chat in {room.name}."
    return CONTINUE


class LoginView(auth_views.LoginView):
    """Django's login, saying what the visitor was on their way to."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["reason"] = login_reason(context.get(self.redirect_field_name) or "")
        context["password_reset"] = settings.PASSWORD_RESET_BY_EMAIL
        return context


@login_required
def person_detail(request: HttpRequest, username: str) -> HttpResponse:
    """A person's page: their avatar and names, since when they are here, and a way to write."""
    person = person_get(username=username)
    if person is None:
        raise Http404("No such person.")
    context = {
        "person": person,
        "card": person_card(user=person),
        "mine": person.pk == request.user.pk,
    }
    return render(request, "people/person_detail.html", context)


def _profile_changes_limited(request: HttpRequest) -> bool:
    return rate_limited(
        f"profile:{request.user.pk}",
        limit=settings.PROFILE_CHANGE_LIMIT,
        window=settings.PROFILE_CHANGE_WINDOW,
    )


@login_required
@require_http_methods(["GET", "POST"])
def profile_edit(request: HttpRequest) -> HttpResponse:
    """Your profile: the display name (`profile_update`) and the email address."""
    user = cast(AbstractUser, request.user)  # signed in: login_required
    initial = {"display_name": display_name_of(user), "email": user.email}
    form = ProfileForm(request.POST or None, user=user, initial=initial)
    if request.method == "POST":
        if _profile_changes_limited(request):
            form.add_error(None, "You have changed your profile often lately. Please wait.")
            return render(request, "people/profile_form.html", {"form": form}, status=429)
        if form.is_valid():
            profile_update(user=user, display_name=form.cleaned_data["display_name"])
            if form.cleaned_data["email"] != user.email:
                user.email = form.cleaned_data["email"]
                user.save(update_fields=["email"])
            messages.success(request, "Your profile is saved.")
            return redirect("person", username=user.get_username())
        return render(request, "people/profile_form.html", {"form": form}, status=400)
    return render(request, "people/profile_form.html", {"form": form})


def _reset_offered(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """`view`, a step of the password reset: not found where the site cannot send mail."""

    def offered(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not settings.PASSWORD_RESET_BY_EMAIL:
            raise Http404("Password reset by email is not set up here.")
        return view(request, *args, **kwargs)

    return offered


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset request, counted per client address: each one may send a mail."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        limited = rate_limited(
            f"password-reset:{address_key(request_address(request))}",
            limit=settings.PASSWORD_RESET_LIMIT,
            window=settings.PASSWORD_RESET_WINDOW,
        )
        if limited:
            refused = "Too many reset requests from your network. Please try again later."
            return self.render_to_response(self.get_context_data(refused=refused), status=429)
        return super().post(request, *args, **kwargs)


password_change = auth_views.PasswordChangeView.as_view()
password_change_done = auth_views.PasswordChangeDoneView.as_view()
password_reset = _reset_offered(PasswordResetView.as_view())
password_reset_done = _reset_offered(auth_views.PasswordResetDoneView.as_view())
password_reset_confirm = _reset_offered(auth_views.PasswordResetConfirmView.as_view())
password_reset_complete = _reset_offered(auth_views.PasswordResetCompleteView.as_view())

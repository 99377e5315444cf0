"""The chat's pages: the room list, a room, its members, direct conversations, history.

A private or direct room is not found (404) by anyone who is not its member,
on every page and in its history, as the socket refuses them too.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from streams.personal import personal_head
from streams.ratelimit import RateLimited, rate_limit

from . import services
from .forms import DirectForm, MemberAddForm, RoomForm, SearchForm
from .models import Room
from .protocol import MAX_BODY, Message
from .selectors import (
    PAGE,
    membership_get,
    message_around,
    message_list,
    message_list_after,
    message_search,
    room_browse,
    room_entry,
    room_head,
    room_is_owner,
    room_list,
    room_readable,
    sidebar,
)
from .selectors import (
    room_members as members_of,
)

ROOMS_PER_PAGE = 50


def _readable_room(request: HttpRequest, slug: str) -> Room:
    """The room, if the user may read it; a 404 alike for a missing room and a private one."""
    room = get_object_or_404(Room, slug=slug)
    if not room_readable(room=room, user=request.user):
        raise Http404("No such room.")
    return room


def room_index(request: HttpRequest) -> HttpResponse:
    """Public rooms and the user's private ones, ROOMS_PER_PAGE to a page (?page=), each with
    join or leave, and a form to create one."""
    form = RoomForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if form.is_valid():
            data = form.cleaned_data
            kind = Room.Kind.PRIVATE if data["private"] else Room.Kind.PUBLIC
            try:
                room = services.room_open(
                    created_by=request.user,
                    name=data["name"],
                    description=data["description"],
                    kind=kind,
                )
            except RateLimited:
                form.add_error(None, "You have created many rooms lately. Please wait a while.")
                status = 429
            except ValidationError as error:
                form.add_error(None, error)
            else:
                return redirect(room)
    user = request.user
    rooms = room_browse(user=user) if user.is_authenticated else room_list()
    page = Paginator(rooms, ROOMS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "chat/room_list.html", {"rooms": page, "form": form}, status=status)


@login_required
def room_detail(request: HttpRequest, slug: str) -> HttpResponse:
    room = _readable_room(request, slug)
    # Read the heads before the messages and the sidebar: the page then shows at least
    # every change up to them, and the socket replays whatever came after.
    user_head = personal_head(user=request.user)
    head = room_head(room=room)
    entry = room_entry(room=room, user=request.user)
    return render(
        request,
        "chat/room.html",
        {
            "room": room,
            "head": head,
            "read": entry.read,
            "entry": entry.model_dump(),
            "joined": membership_get(room=room, user=request.user) is not None,
            "sidebar": [item.model_dump() for item in sidebar(user=request.user)],
            "personal_head": user_head,
            "initial": _initial(room, request.GET.get("at")),
            "max_body": MAX_BODY,
            "search_max": settings.CHAT_SEARCH_QUERY_MAX,
            "reaction_palette": settings.CHAT_REACTIONS,
        },
    )


def _message_id(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _frames(messages) -> list[dict]:
    return [Message.of(message).model_dump() for message in messages]


def _initial(room: Room, at: str | None) -> dict:
    """The room's history as it opens: around message `at` (?at=, a search result or a link
    to a message), with whether there is more before and after it; else the latest page."""
    around = message_around(room=room, message_id=at_id) if (at_id := _message_id(at)) else None
    if around is not None:
        messages, more, newer = around
        return {"messages": _frames(messages), "more": more, "newer": newer, "at": at_id}
    messages = message_list(room=room)
    return {"messages": _frames(messages), "more": len(messages) == PAGE, "newer": False}


@login_required
@require_GET
def room_history(request: HttpRequest, slug: str) -> JsonResponse:
    """Older messages for scroll-back (?before=<message id>), newer ones after a jump to a
    message (?after=<message id>); without either, the room as it opens (the latest page, or
    the page around ?around=<message id>) with the room's `head`, the user's `read` position
    and the room's `RoomEntry`."""
    room = _readable_room(request, slug)
    for name in ("before", "after"):
        if name in request.GET and _message_id(request.GET[name]) is None:
            return JsonResponse({"error": f"{name} must be a message id"}, status=400)
    if "before" in request.GET:
        messages = message_list(room=room, before_id=int(request.GET["before"]))
        return JsonResponse({"messages": _frames(messages), "more": len(messages) == PAGE})
    if "after" in request.GET:
        messages, newer = message_list_after(room=room, after_id=int(request.GET["after"]))
        return JsonResponse({"messages": _frames(messages), "newer": newer})
    head = room_head(room=room)
    entry = room_entry(room=room, user=request.user)
    return JsonResponse(
        {
            **_initial(room, request.GET.get("around")),
            "head": head,
            "read": entry.read,
            "room": entry.model_dump(),
        }
    )


@login_required
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    """Messages of the rooms the user may read, by words (?q=), newest first, a page at a
    time (?before=<the last message id shown>); at most CHAT_SEARCH_LIMIT searches per
    CHAT_SEARCH_WINDOW seconds per user."""
    form = SearchForm(request.GET)
    results, older, status = [], None, 200
    if not form.is_valid():
        status = 400
    elif form.cleaned_data["q"]:
        try:
            rate_limit(
                f"chat.search:{request.user.pk}",
                limit=settings.CHAT_SEARCH_LIMIT,
                window=settings.CHAT_SEARCH_WINDOW,
            )
        except RateLimited:
            form.add_error(None, "You have searched a lot lately. Please wait a minute.")
            status = 429
        else:
            per_page = settings.CHAT_SEARCH_RESULTS
            results = message_search(
                user=request.user,
                query=form.cleaned_data["q"],
                limit=per_page + 1,
                before=form.cleaned_data["before"],
            )
            if len(results) > per_page:
                results = results[:per_page]
                older = results[-1].message.pk
    return render(
        request,
        "chat/search.html",
        {"form": form, "results": results, "older": older, "query": form.cleaned_data.get("q")},
        status=status,
    )


@login_required
@require_POST
def room_join(request: HttpRequest, slug: str) -> HttpResponse:
    room = _readable_room(request, slug)
    try:
        services.room_join(room=room, user=request.user)
    except PermissionDenied:
        raise Http404("No such room.") from None
    return redirect(room)


@login_required
@require_POST
def room_leave(request: HttpRequest, slug: str) -> HttpResponse:
    room = _readable_room(request, slug)
    services.room_leave(room=room, user=request.user)
    return redirect("chat:list")


@login_required
@require_http_methods(["GET", "POST"])
def room_members(request: HttpRequest, slug: str) -> HttpResponse:
    """Who is in a private room; its owners add people by username and remove them."""
    room = _readable_room(request, slug)
    owner = room.kind == Room.Kind.PRIVATE and room_is_owner(room=room, user=request.user)
    form = MemberAddForm(request.POST if "username" in request.POST else None)
    status = 200
    if request.method == "POST":
        if not owner:
            raise PermissionDenied("Only the room's owners can manage its members.")
        if "remove" in request.POST:
            member = get_object_or_404(get_user_model(), pk=request.POST["remove"])
            try:
                services.member_remove(room=room, by=request.user, user=member)
            except PermissionDenied as error:
                form.add_error(None, str(error))
                status = 400
            else:
                return redirect("chat:members", slug=room.slug)
        elif form.is_valid():
            user = (
                get_user_model()
                .objects.filter(username=form.cleaned_data["username"], is_active=True)
                .first()
            )
            if user is None:
                form.add_error("username", "No one has this username.")
                status = 400
            else:
                services.member_add(room=room, by=request.user, user=user)
                return redirect("chat:members", slug=room.slug)
        else:
            status = 400
    return render(
        request,
        "chat/members.html",
        {"room": room, "members": members_of(room=room), "owner": owner, "form": form},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def dm_open(request: HttpRequest) -> HttpResponse:
    """POST usernames: the direct conversation with exactly those people, found or started.

    GET (a mention's link, ?with=<username>) shows the form filled in.
    """
    if request.method == "GET":
        form = DirectForm(initial={"usernames": request.GET.get("with", "")})
        return render(request, "chat/dm.html", {"form": form})
    form = DirectForm(request.POST)
    if form.is_valid():
        names = form.cleaned_data["usernames"]
        users = list(get_user_model().objects.filter(username__in=names, is_active=True))
        missing = set(names) - {user.get_username() for user in users}
        if missing:
            form.add_error("usernames", f"No one has the username {', '.join(sorted(missing))}.")
        else:
            try:
                room = services.dm_start(by=request.user, users=users)
            except RateLimited:
                form.add_error(None, "You have started many conversations lately. Please wait.")
                return render(request, "chat/dm.html", {"form": form}, status=429)
            except ValidationError as error:
                form.add_error("usernames", error)
            else:
                return redirect(room)
    return render(request, "chat/dm.html", {"form": form}, status=400)

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET

from streams.personal import personal_head
from streams.ratelimit import RateLimited

from . import services
from .forms import RoomForm
from .models import Room
from .protocol import MAX_BODY, Message
from .selectors import PAGE, message_list, room_head, room_list

ROOMS_PER_PAGE = 50


def room_index(request: HttpRequest) -> HttpResponse:
    """Rooms, ROOMS_PER_PAGE to a page (?page=), and a form to create one."""
    form = RoomForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if form.is_valid():
            try:
                room = services.room_open(created_by=request.user, **form.cleaned_data)
            except RateLimited:
                form.add_error(None, "You have created many rooms lately. Please wait a while.")
                status = 429
            except ValidationError as error:
                form.add_error(None, error)
            else:
                return redirect(room)
    rooms = Paginator(room_list(), ROOMS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "chat/room_list.html", {"rooms": rooms, "form": form}, status=status)


def _latest(room: Room) -> dict:
    """The latest page of the room's history, with the head it was read at."""
    # Read the head before the messages: the page then shows at least every
    # change up to the head, and the socket replays whatever came after it.
    head = room_head(room=room)
    messages = [Message.of(message).model_dump() for message in message_list(room=room)]
    entry = {
        "stream": f"chat:{room.slug}",
        "slug": room.slug,
        "name": room.name,
        "kind": "public",
        "url": room.get_absolute_url(),
        "head": head,
        "read": head,
        "unread": 0,
        "mentions": 0,
    }
    return {
        "messages": messages,
        "more": len(messages) == PAGE,
        "head": head,
        "read": head,
        "room": entry,
    }


@login_required
def room_detail(request: HttpRequest, slug: str) -> HttpResponse:
    room = get_object_or_404(Room, slug=slug)
    personal = personal_head(user=request.user)
    return render(
        request,
        "chat/room.html",
        {
            "room": room,
            "app": {"personal": personal, "sidebar": [], **_latest(room)},
            "max_body": MAX_BODY,
        },
    )


@login_required
@require_GET
def room_history(request: HttpRequest, slug: str) -> JsonResponse:
    """Older messages for scroll-back: ?before=<message id>; without it, the latest page."""
    room = get_object_or_404(Room, slug=slug)
    if "before" not in request.GET:
        return JsonResponse(_latest(room))
    try:
        before = int(request.GET["before"])
    except ValueError:
        return JsonResponse({"error": "before must be a message id"}, status=400)
    messages = message_list(room=room, before_id=before)
    return JsonResponse(
        {
            "messages": [Message.of(message).model_dump() for message in messages],
            "more": len(messages) == PAGE,
        }
    )

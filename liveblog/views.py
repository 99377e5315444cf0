"""Liveblog pages, and the editors' writes over HTTP (forms with CSRF, or fetch with JSON back).

Every write goes through `services`, which checks that the user is an editor.
A request that asks for JSON gets JSON; a plain form post is redirected back.
"""

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from streams.markdown import render_article

from . import services
from .forms import LiveblogForm, PostActionForm, PostForm
from .models import EDITORS, READERS, Liveblog
from .protocol import MAX_BODY, EditorPost, post_as
from .selectors import (
    PAGE,
    liveblog_head,
    liveblog_list,
    post_drafts,
    post_key_events,
    post_pinned,
    post_pinned_id,
    post_timeline,
    user_is_editor,
)

State = services.State


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _before(request: HttpRequest) -> int | None:
    try:
        return int(request.GET["before"])
    except (KeyError, ValueError):
        return None


def liveblog_index(request: HttpRequest) -> HttpResponse:
    """Liveblogs, live ones first; editors get a form to start one."""
    editor = user_is_editor(request.user)
    form = LiveblogForm(request.POST or None)
    if request.method == "POST":
        if not editor:
            raise PermissionDenied("Only liveblog editors can start a liveblog.")
        if form.is_valid():
            try:
                liveblog = services.liveblog_create(by=request.user, **form.cleaned_data)
            except ValidationError as error:
                form.add_error(None, error)
            else:
                return redirect(liveblog)
    return render(
        request,
        "liveblog/liveblog_list.html",
        {"liveblogs": liveblog_list(), "form": form, "editor": editor},
    )


def liveblog_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """The coverage, newest first, rendered on the server; `?before=<post id>` pages back."""
    liveblog = get_object_or_404(Liveblog, slug=slug)
    editor = user_is_editor(request.user)
    audience = EDITORS if editor else READERS
    # The head first: the page shows at least every change up to it, and the
    # socket replays whatever came after.
    head = liveblog_head(liveblog=liveblog, audience=audience)
    before = _before(request)
    posts = post_timeline(liveblog=liveblog, before_id=before)
    pinned = post_pinned(liveblog=liveblog)
    key_events = post_key_events(liveblog=liveblog)
    drafts = post_drafts(liveblog=liveblog) if editor else []
    initial = {
        "posts": [post_as(post, audience).model_dump() for post in posts],
        "more": len(posts) == PAGE,
        "pinned": post_as(pinned, audience).model_dump() if pinned else None,
        "key_events": [post_as(post, audience).model_dump() for post in key_events],
        "drafts": [post_as(post, audience).model_dump() for post in drafts],
        "paged": before is not None,
    }
    return render(
        request,
        "liveblog/liveblog_detail.html",
        {
            "liveblog": liveblog,
            "head": head,
            "editor": editor,
            "posts": posts,
            "pinned": pinned,
            "key_events": key_events,
            "drafts": drafts,
            "pinned_id": post_pinned_id(liveblog=liveblog) if editor else None,
            "more": initial["more"],
            "paged": initial["paged"],
            "initial": initial,
            "max_body": MAX_BODY,
        },
    )


@require_GET
def liveblog_history(request: HttpRequest, slug: str) -> JsonResponse:
    """Older published posts for "load older updates": ?before=<post id>."""
    liveblog = get_object_or_404(Liveblog, slug=slug)
    before = _before(request)
    if before is None:
        return JsonResponse({"error": "before must be a post id"}, status=400)
    audience = EDITORS if user_is_editor(request.user) else READERS
    posts = post_timeline(liveblog=liveblog, before_id=before)
    return JsonResponse(
        {
            "posts": [post_as(post, audience).model_dump() for post in posts],
            "more": len(posts) == PAGE,
        }
    )


@require_POST
def post_preview(request: HttpRequest, slug: str) -> JsonResponse:
    """The composer's live preview: the same rendering and cleaning as publishing."""
    get_object_or_404(Liveblog, slug=slug)
    if not user_is_editor(request.user):
        raise PermissionDenied("Only liveblog editors can preview.")
    body = request.POST.get("body", "")[:MAX_BODY]
    return JsonResponse({"html": render_article(body)})


def _done(request: HttpRequest, liveblog: Liveblog, post=None, *, note: str) -> HttpResponse:
    if _wants_json(request):
        post_data = EditorPost.of(post).model_dump() if post else None
        return JsonResponse({"post": post_data, "note": note})
    messages.success(request, note)
    return redirect(liveblog)


def _refused(request: HttpRequest, liveblog: Liveblog, error: ValidationError) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"errors": error.messages}, status=400)
    for message in error.messages:
        messages.error(request, message)
    return redirect(liveblog)


def _editor_form(request: HttpRequest, slug: str, form_class):
    """The liveblog and the bound form of an editor's write; 404 or 403 otherwise."""
    liveblog = get_object_or_404(Liveblog, slug=slug)
    if not user_is_editor(request.user):
        raise PermissionDenied("Only liveblog editors can do that.")
    return liveblog, form_class(request.POST)


# region: liveblog-post-new
@require_POST
def post_new(request: HttpRequest, slug: str) -> HttpResponse:
    liveblog, form = _editor_form(request, slug, PostForm)
    if not form.is_valid():
        return _refused(request, liveblog, ValidationError(form.errors))
    replaced = form.cleaned_data["pinned"] and post_pinned_id(liveblog=liveblog)
    try:
        post = services.post_create(
            liveblog=liveblog,
            by=request.user,
            body=form.cleaned_data["body"],
            state=form.state,
            publish_at=form.cleaned_data["publish_at"],
            key_event=form.cleaned_data["key_event"],
            pinned=form.cleaned_data["pinned"],
        )
    except ValidationError as error:
        return _refused(request, liveblog, error)
    notes = {
        State.PUBLISHED: "Published.",
        State.DRAFT: "Draft saved.",
        State.SCHEDULED: "Scheduled.",
    }
    return _done(request, liveblog, post, note=notes[State(post.state)] + _pin_note(replaced))


# endregion


@require_POST
def post_change(request: HttpRequest, slug: str, post_id: int) -> HttpResponse:
    liveblog, form = _editor_form(request, slug, PostActionForm)
    if not form.is_valid():
        return _refused(request, liveblog, ValidationError(form.errors))
    action = form.cleaned_data["action"]
    try:
        if action == "delete":
            services.post_delete(liveblog=liveblog, post_id=post_id, by=request.user)
            return _done(request, liveblog, note="Deleted.")
        changes = form.changes
        replaced = changes.get("pinned") and post_pinned_id(liveblog=liveblog)
        post = services.post_update(liveblog=liveblog, post_id=post_id, by=request.user, **changes)
    except ObjectDoesNotExist:
        raise Http404("No such post.") from None
    except ValidationError as error:
        return _refused(request, liveblog, error)
    return _done(request, liveblog, post, note="Saved." + _pin_note(replaced, post.pk))


def _pin_note(replaced: int | None | bool, post_id: int | None = None) -> str:
    """Pinning unpins the post pinned before: the editor is told which, after as before."""
    if not replaced or replaced == post_id:
        return ""
    return " The post pinned before is no longer pinned."


@require_http_methods(["GET", "POST"])
def liveblog_end(request: HttpRequest, slug: str) -> HttpResponse:
    """Ending asks first: GET is the confirmation page, its form's POST ends the liveblog."""
    liveblog = get_object_or_404(Liveblog, slug=slug)
    if not user_is_editor(request.user):
        raise PermissionDenied("Only liveblog editors can end a liveblog.")
    if request.method == "GET":
        return render(request, "liveblog/liveblog_end.html", {"liveblog": liveblog})
    services.liveblog_update(liveblog=liveblog, by=request.user, ended=True)
    return _done(request, liveblog, note="The liveblog has ended. You can reopen it here.")


@require_POST
def liveblog_reopen(request: HttpRequest, slug: str) -> HttpResponse:
    liveblog = get_object_or_404(Liveblog, slug=slug)
    services.liveblog_update(liveblog=liveblog, by=request.user, ended=False)
    return _done(request, liveblog, note="The liveblog is live again.")

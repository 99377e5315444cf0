"""A post's time as the page shows it; static/js/liveblog.js draws the same in the reader's zone.

The server renders in its own time zone (readers without JavaScript see that);
the page's script rewrites each `<time>` in the browser's zone and keeps the
relative "5 min ago" fresh.
"""

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html

register = template.Library()


def time_label(moment: datetime, now: datetime) -> str:
    """HH:MM on the day it is, with the date on any other day, and the year in another year."""
    if moment.date() == now.date():
        return date_format(moment, "H:i")
    if moment.year == now.year:
        return date_format(moment, "j M H:i")
    return date_format(moment, "j M Y H:i")


def time_title(moment: datetime) -> str:
    return date_format(moment, "l j F Y, H:i")


def time_ago(moment: datetime, now: datetime) -> str:
    minutes = int((now - moment).total_seconds() // 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 24 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // (24 * 60)} d ago"


@register.simple_tag
def moment_time(moment: datetime) -> str:
    """`<time datetime title>` with the label: a post's time, a scheduled time."""
    local, now = timezone.localtime(moment), timezone.localtime()
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        moment.isoformat(),
        time_title(local),
        time_label(local, now),
    )


@register.simple_tag
def moment_ago(moment: datetime) -> str:
    """How long ago, refreshed each minute by the page's script."""
    return format_html(
        '<span class="post-ago" data-since="{}">{}</span>',
        moment.isoformat(),
        time_ago(moment, timezone.now()),
    )

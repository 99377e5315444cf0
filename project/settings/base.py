"""Settings shared by every environment. Nothing secret and nothing permissive lives here."""

from pathlib import Path
from typing import Any

import dj_database_url

from project.env import env, env_bool, env_int, env_list

BASE_DIR = Path(__file__).resolve().parent.parent.parent

DEBUG = False
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "people",
    "streams",
    "website",
    "chat",
    "liveblog",
]

MIDDLEWARE = [
    "website.middleware.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "website.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Addresses or networks of the reverse proxies whose X-Forwarded-* headers are
# believed; from anyone else those headers are dropped (website/middleware.py).
TRUSTED_PROXIES = env_list("DJANGO_TRUSTED_PROXIES", [])

# Every page: scripts and styles from this site's own files only (no inline
# script, no inline style), sockets to this site, images by https URL
# (liveblog posts embed them), and no framing.
CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "https:", "data:"],
    "connect-src": ["'self'"],
    "font-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}

ROOT_URLCONF = "project.urls"
# Where the admin is served, e.g. "admin/"; empty: not served at all.
# Development and tests default to "admin/"; production serves it only where
# DJANGO_ADMIN_URL says (project/settings/production.py).
ADMIN_URL = env("DJANGO_ADMIN_URL", "admin/")
ASGI_APPLICATION = "project.asgi.application"
WSGI_APPLICATION = "project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def database(url: str) -> dict[str, Any]:
    """One database from a URL; SQLite next to the code when no URL is given."""
    url = url or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    sqlite = url.startswith("sqlite:")
    # Kept connections: see DATABASE_CONN_MAX_AGE in docs/configuration.md. On
    # PostgreSQL the default, 0, opens one per unit of work, as Django advises under
    # ASGI. A SQLite connection is a file handle, not a server backend: one kept by
    # each thread costs nothing, and opening one per message was a fifth of a
    # message's time.
    max_age = env_int("DATABASE_CONN_MAX_AGE", 600 if sqlite else 0)
    config: dict[str, Any] = {
        **dj_database_url.parse(url, conn_max_age=max_age, conn_health_checks=max_age > 0)
    }
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # IMMEDIATE transactions take the write lock up front, so concurrent
        # senders queue instead of failing with "database is locked"; WAL lets
        # readers (replays, page loads) run beside a writer.
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    return config


DATABASES = {"default": database(env("DATABASE_URL", ""))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", "")


def channel_layers(redis_url: str) -> dict:
    """The in-memory layer for one process; Redis once there are several."""
    # A process's hub has one channel; it holds up to `capacity` messages while
    # the process is busy. Past that the layer drops silently, and each client
    # fills the gap from the event log.
    capacity = env_int("CHANNEL_LAYER_CAPACITY", 1000)
    if not redis_url:
        return {
            "default": {
                # Channels' in-memory layer, swept once a second (streams/layers.py).
                "BACKEND": "streams.layers.InMemoryChannelLayer",
                "CONFIG": {"capacity": capacity, "expiry": 60},
            }
        }
    # region: redis-channel-layer
    return {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": redis_url,
                        # redis-py's default socket_timeout (5 s) is shorter than the
                        # layer's blocking receive, which then fails on an idle
                        # process: its hub closes every socket with 4503.
                        "socket_timeout": env_int("REDIS_SOCKET_TIMEOUT", 30),
                        "socket_connect_timeout": 5,
                        # redis-py caps a pool at 100 connections by default; a burst
                        # of connecting sockets needs more than that at once.
                        "max_connections": env_int("REDIS_MAX_CONNECTIONS", 1000),
                    }
                ],
                "capacity": capacity,
                "expiry": 60,
                # Each live process's hub re-joins its groups at every presence heartbeat,
                # so this only bounds how long a killed process lingers in them.
                "group_expiry": env_int("CHANNEL_LAYER_GROUP_EXPIRY", 300),
            },
        }
    }
    # endregion


CHANNEL_LAYERS = channel_layers(REDIS_URL)
# How long a socket's handshake waits for its hub to join the stream's group
# before it is closed with 4503 (live delivery unavailable).
CHANNEL_LAYER_JOIN_TIMEOUT = env_int("CHANNEL_LAYER_JOIN_TIMEOUT", 5)


# region: redis-cache
def caches(redis_url: str) -> dict:
    """A cache shared by every process when Redis is there (rate limits, the typing throttle)."""
    if not redis_url:
        return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    return {
        "default": {
            # Django's, with one connection pool per process (streams/cache.py).
            "BACKEND": "streams.cache.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": "cache",
            "OPTIONS": {"socket_timeout": 5, "socket_connect_timeout": 5},
        }
    }


# endregion


CACHES = caches(REDIS_URL)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# Mail carries password-reset links. Nothing is sent unless an environment says
# how: development prints mail to the console, production sends it over SMTP
# (project/settings/production.py), and without a way to send it the site
# offers no reset at all rather than one whose mail goes nowhere.
EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
PASSWORD_RESET_BY_EMAIL = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT: Path | None = Path(env("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "website.storage.StaticFilesStorage"},
}

# Each request has its access line (daphne's, gunicorn's); Django adds one record
# where that line cannot say why: "Not Found: /path", a CSRF failure, a traceback.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {
        "without_traceback": {
            "()": "django.utils.log.CallbackFilter",
            "callback": "ext://project.log.without_traceback",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        # Named, so the handlers Django's default logging gives it are dropped: with
        # DEBUG on, its own console handler printed every record a second time.
        "django": {"level": "INFO"},
        # A bad Host header is a 400 and one line naming the host, not a traceback
        # into the middleware (the tutorial's troubleshooting quotes the line).
        "django.security.DisallowedHost": {"filters": ["without_traceback"]},
    },
}

# Abuse limits: per user across tabs (chat sends), and per socket (any frame).
CHAT_SEND_LIMIT = env_int("CHAT_SEND_LIMIT", 10)
CHAT_SEND_WINDOW = env_int("CHAT_SEND_WINDOW", 10)
# Edits, deletes and reactions together, per user, in the same window.
CHAT_CHANGE_LIMIT = env_int("CHAT_CHANGE_LIMIT", 20)
# Sockets open at once: per signed-in user, and per address for anonymous ones.
SOCKETS_PER_USER = env_int("SOCKETS_PER_USER", 20)
SOCKETS_PER_ADDRESS = env_int("SOCKETS_PER_ADDRESS", 50)
# Streams one multiplexed socket (/ws/) may follow at once, the user's own aside.
STREAMS_PER_SOCKET = env_int("STREAMS_PER_SOCKET", 100)
# chat.typing is told to a room at most once every this many seconds per user.
CHAT_TYPING_EVERY = env_int("CHAT_TYPING_EVERY", 2)
# Logins: after this many failures for one username from one address, that
# username is refused from that address for LOGIN_LOCKOUT seconds.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_LOCKOUT = env_int("LOGIN_LOCKOUT", 900)
# And after this many failures from one address, whatever the usernames, the
# address is refused for LOGIN_LOCKOUT seconds (guessing many users' passwords).
LOGIN_ADDRESS_FAILURE_LIMIT = env_int("LOGIN_ADDRESS_FAILURE_LIMIT", 50)
# Sign-up attempts per client address (an IPv6 /64), and rooms created per
# user, each in its own window (seconds).
SIGNUP_LIMIT = env_int("SIGNUP_LIMIT", 10)
SIGNUP_WINDOW = env_int("SIGNUP_WINDOW", 3600)
ROOM_CREATE_LIMIT = env_int("ROOM_CREATE_LIMIT", 10)
ROOM_CREATE_WINDOW = env_int("ROOM_CREATE_WINDOW", 3600)
# Chat: the unread message ids the room page starts with, per room; the people one
# message can mention (and notify); the people of one direct conversation.
CHAT_UNREAD_IDS = env_int("CHAT_UNREAD_IDS", 200)
CHAT_MENTIONS_PER_MESSAGE = env_int("CHAT_MENTIONS_PER_MESSAGE", 20)
CHAT_DIRECT_MEMBERS = env_int("CHAT_DIRECT_MEMBERS", 9)
# Chat search: the longest query, the results on one page, and the searches per
# user in each window (seconds).
CHAT_SEARCH_QUERY_MAX = env_int("CHAT_SEARCH_QUERY_MAX", 200)
CHAT_SEARCH_RESULTS = env_int("CHAT_SEARCH_RESULTS", 20)
CHAT_SEARCH_LIMIT = env_int("CHAT_SEARCH_LIMIT", 30)
CHAT_SEARCH_WINDOW = env_int("CHAT_SEARCH_WINDOW", 60)
# Chat reactions: the emoji a message may be given, and how many reactions (one
# person's emoji each) a message takes at most, which bounds every frame that shows them.
CHAT_REACTIONS = env_list("CHAT_REACTIONS", ["👍", "❤️", "😂", "🎉", "😮", "😢", "👀", "✅"])
CHAT_REACTIONS_PER_MESSAGE = env_int("CHAT_REACTIONS_PER_MESSAGE", 100)
WEBSOCKET_FLOOD_BURST = env_int("WEBSOCKET_FLOOD_BURST", 60)
WEBSOCKET_FLOOD_RATE = env_int("WEBSOCKET_FLOOD_RATE", 5)

# Presence: how often each process's hub refreshes its sockets' rows, and how
# long a row nobody refreshed still counts.
PRESENCE_HEARTBEAT = env_int("PRESENCE_HEARTBEAT", 15)
PRESENCE_TTL = env_int("PRESENCE_TTL", 45)

# How often each process tests the sessions of its sockets, closing those whose
# session expired or ended unannounced (streams/revocation.py).
SOCKET_SESSION_RECHECK = env_int("SOCKET_SESSION_RECHECK", 60)

# The liveblog scheduler (liveblog/scheduler.py): its longest sleep between checks;
# whether a server publishes scheduled posts itself where the channel layer is
# in-memory; and how long a worker then leaves it to the server.
LIVEBLOG_SCHEDULER_POLL = env_int("LIVEBLOG_SCHEDULER_POLL", 1)
LIVEBLOG_SCHEDULER_IN_SERVER = env_bool("LIVEBLOG_SCHEDULER_IN_SERVER", True)
LIVEBLOG_SCHEDULER_HANDOFF = env_int("LIVEBLOG_SCHEDULER_HANDOFF", 2)
# Profiles: display-name and email changes per user in PROFILE_CHANGE_WINDOW
# seconds; password-reset requests per client address in PASSWORD_RESET_WINDOW
# (each can send a mail to someone).
PROFILE_CHANGE_LIMIT = env_int("PROFILE_CHANGE_LIMIT", 10)
PROFILE_CHANGE_WINDOW = env_int("PROFILE_CHANGE_WINDOW", 3600)
PASSWORD_RESET_LIMIT = env_int("PASSWORD_RESET_LIMIT", 5)
PASSWORD_RESET_WINDOW = env_int("PASSWORD_RESET_WINDOW", 3600)

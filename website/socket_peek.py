"""The tutorial's terminal client: open one stream socket, send frames, print what comes back.

    .venv/bin/python -m website.socket_peek URL [FRAME ...] [--repeat N] [--user NAME --password P]

It opens the socket with the site's own Origin (the origin check refuses any
other), sends each FRAME given (JSON text) N times, and prints every frame the
server sends, one a line, until the server has said nothing for a second;
when the server closes the socket, it prints the close code instead. With
--user, it first signs in through the site's login form, as a browser does,
and opens the socket with that session's cookie.
"""

import argparse
import sys
from http.cookiejar import CookieJar
from urllib.parse import urlencode, urlsplit
from urllib.request import HTTPCookieProcessor, Request, build_opener

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.typing import Origin

QUIET_SECONDS = 1.0


def origin_of(url: str) -> Origin:
    """The page's origin for a socket URL: ws://host:port/... -> http://host:port."""
    parts = urlsplit(url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return Origin(f"{scheme}://{parts.netloc}")


LOGIN_PATH = "/accounts/login/"


def session_cookie(url: str, *, username: str, password: str) -> str:
    """Sign in on the site of socket `url` with its login form; the session's Cookie header.

    SystemExit, saying so, when the site does not sign the user in.
    """
    login = f"{origin_of(url)}{LOGIN_PATH}"
    jar = CookieJar()
    browser = build_opener(HTTPCookieProcessor(jar))
    browser.open(login).close()  # the form sets the CSRF cookie the post must echo
    csrf = next((cookie.value for cookie in jar if cookie.name == "csrftoken"), "")
    form = {"username": username, "password": password, "csrfmiddlewaretoken": csrf}
    headers = {"Origin": origin_of(url), "Referer": login}
    browser.open(Request(login, data=urlencode(form).encode(), headers=headers)).close()
    for cookie in jar:
        if cookie.name == "sessionid":
            return f"{cookie.name}={cookie.value}"
    raise SystemExit(f"Signing in as {username!r} failed: check the username and password.")


# region: peek
def peek(url: str, frames: list[str], *, repeat: int = 1, cookie: str | None = None) -> None:
    headers = {"Cookie": cookie} if cookie else None
    with connect(url, origin=origin_of(url), additional_headers=headers) as socket:
        try:
            for frame in frames * repeat:
                socket.send(frame)
            while True:
                sys.stdout.write(f"{socket.recv(timeout=QUIET_SECONDS, decode=True)}\n")
        except TimeoutError:
            return
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else "none"
            sys.stdout.write(f"closed by the server: {code}\n")


# endregion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="ws://host:port/ws/...?after=N")
    parser.add_argument("frames", nargs="*", help="frames to send, as JSON text")
    parser.add_argument("--repeat", type=int, default=1, help="send the frames this many times")
    parser.add_argument("--user", help="sign in as this user first")
    parser.add_argument("--password", default="", help="the user's password")
    args = parser.parse_intermixed_args()
    cookie = None
    if args.user:
        cookie = session_cookie(args.url, username=args.user, password=args.password)
    peek(args.url, args.frames, repeat=args.repeat, cookie=cookie)


if __name__ == "__main__":
    main()

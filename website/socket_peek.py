"""The tutorial's terminal client: open one stream socket, send frames, print what comes back.

    .venv/bin/python -m website.socket_peek URL [FRAME ...] [--repeat N]

It opens the socket with the site's own Origin (the origin check refuses any
other), sends each FRAME given (JSON text) N times, and prints every frame the
server sends, one a line, until the server has said nothing for a second;
when the server closes the socket, it prints the close code instead.
"""

import argparse
import sys
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.typing import Origin

QUIET_SECONDS = 1.0


def origin_of(url: str) -> Origin:
    """The page's origin for a socket URL: ws://host:port/... -> http://host:port."""
    parts = urlsplit(url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return Origin(f"{scheme}://{parts.netloc}")


# region: peek
def peek(url: str, frames: list[str], *, repeat: int = 1) -> None:
    with connect(url, origin=origin_of(url)) as socket:
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
    args = parser.parse_args()
    peek(args.url, args.frames, repeat=args.repeat)


if __name__ == "__main__":
    main()

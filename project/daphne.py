"""daphne on uvloop: `python -m project.daphne`, then daphne's own arguments.

daphne runs Twisted on an asyncio event loop that it makes when `daphne.server`
is first imported. Choosing uvloop's policy before that import gives daphne
uvloop's loop, written in C, in place of the pure-Python selector loop. The
server, its options and its behaviour are daphne's; only the loop underneath
changes. Every socket write in daphne goes through that loop twice (Twisted
registers the socket for writing, then unregisters it once the write is done),
so a broadcast to a room of 1,000 sockets costs markedly less: the figures are
in docs/performance.md.
"""

import asyncio
import sys

import uvloop


def main() -> None:
    if "daphne.server" in sys.modules:
        raise RuntimeError("daphne.server was imported before the loop policy was set")
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    from daphne.cli import CommandLineInterface

    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()

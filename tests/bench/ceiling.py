"""The ceiling: a bare `websockets` broadcast server doing the same job, nothing else.

Every text frame a client sends is written to every client connected on the
same path: a path is a room. No framework, no channel layer, no database: what
one Python process can do.

    python -m tests.bench.ceiling --port 8765
"""

import argparse
import asyncio

from websockets.asyncio.server import broadcast, serve

ROOMS: dict[str, set] = {}


async def handler(websocket) -> None:
    path = websocket.request.path
    clients = ROOMS.setdefault(path, set())
    clients.add(websocket)
    try:
        async for message in websocket:
            broadcast(clients, message)
    finally:
        clients.discard(websocket)
        if not clients:
            ROOMS.pop(path, None)


async def main(host: str, port: int) -> None:
    async with serve(handler, host, port, compression=None, max_queue=None) as server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.host, arguments.port))

"""The ceiling: a raw ASGI app that answers each benchmarked URL with the very status, headers
and body bytes that policyfacts answered it with, and does nothing else.

No framework, no routing, no database: what uvicorn (uvloop, httptools) costs on this machine
for these responses. policyfacts' throughput is read as a fraction of it.

    BENCH_CEILING_RESPONSES=responses.pickle uvicorn bench.ceiling:app --loop uvloop \\
        --http httptools --workers N --no-access-log --log-level warning

The file is a pickled ``{"/path?query": (status, [(name, value), ...], body)}`` (bench.procs
writes it); uvicorn adds ``date`` and ``server`` itself, as it does for policyfacts.
"""

import os
import pickle
from pathlib import Path
from typing import Any

ENV = "BENCH_CEILING_RESPONSES"

Response = tuple[int, list[tuple[bytes, bytes]], bytes]

NOT_FOUND: Response = (
    404,
    [(b"content-type", b"text/plain"), (b"content-length", b"9")],
    b"not found",
)


def _load() -> dict[str, Response]:
    path = os.environ.get(ENV)
    if not path:
        return {}
    loaded: dict[str, Response] = pickle.loads(Path(path).read_bytes())
    return loaded


RESPONSES = _load()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    query = scope["query_string"]
    url = scope["path"] + ("?" + query.decode("latin-1") if query else "")
    status, headers, body = RESPONSES.get(url, NOT_FOUND)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

"""What the server itself bounds on each connection, the same in every process (`serve`,
`serve --workers N`, tests): one place, so the paths cannot drift (#21, 8).

uvicorn 0.55 bounds a connection only once it has answered a request on it: the keep-alive
timer starts when a response completes and stops at the next byte. The read of a request's
head and of its body are bounded by this project (serve/connections.py wraps uvicorn's
protocol; http/deadlines.py times the body), so a slow client (slow-loris) or one that opens a
connection and sends nothing is answered 408 and closed. A reverse proxy in front still adds
what a single process cannot (per-client limits; docs/control-plane.md, "The edge").
"""

from __future__ import annotations

from typing import Any

from elsewhere.control.serve.connections import HeadDeadline

# Seconds an idle keep-alive connection stays open after a response (hosts poll every few s).
KEEP_ALIVE_SECONDS = 5
# Connections (and tasks) one process serves at once; beyond, each request is answered 503 and
# its connection closed, so file descriptors stay well under the usual 1024-4096 soft limit
# even with several workers per machine.
MAX_CONNECTIONS = 512
# Connections the kernel queues before the process accepts them.
BACKLOG = 2048


def uvicorn_options(max_connections: int = MAX_CONNECTIONS) -> dict[str, Any]:
    """The keyword arguments of `uvicorn.Config` that bound connections."""
    return {
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "limit_concurrency": max_connections,
        "backlog": BACKLOG,
        "http": HeadDeadline,
    }

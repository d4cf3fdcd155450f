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

import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elsewhere.control.serve.connections import HeadDeadline
from elsewhere.errors import ConfigError

# Seconds an idle keep-alive connection stays open after a response (hosts poll every few s).
KEEP_ALIVE_SECONDS = 5
# Connections (and tasks) one process serves at once; beyond, each request is answered 503 and
# its connection closed, so file descriptors stay well under the usual 1024-4096 soft limit
# even with several workers per machine.
MAX_CONNECTIONS = 512
# Connections the kernel queues before the process accepts them.
BACKLOG = 2048


@dataclass(frozen=True)
class TLSFiles:
    """The certificate chain and key every process serves TLS with (uvicorn's ssl_certfile,
    ssl_keyfile). uvicorn wraps the protocol below `HeadDeadline`, so the head deadline runs
    from the end of the handshake; the handshake itself is bounded by asyncio's (60 s)."""

    cert: Path
    key: Path

    def check(self) -> None:
        """Load them as the server will, so a bad pair is one line before anything listens."""
        for flag, path in (("--tls-cert", self.cert), ("--tls-key", self.key)):
            if not path.is_file():
                raise ConfigError(flag, str(path), "not found")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(str(self.cert), str(self.key))
        except ssl.SSLError as error:
            why = (
                "the key does not match the certificate"
                if "KEY_VALUES_MISMATCH" in str(error)
                else "not a PEM certificate and key"
            )
            raise ConfigError("--tls-cert/--tls-key", f"{self.cert}, {self.key}", why) from None
        except OSError as error:
            raise ConfigError("--tls-key", str(self.key), error.strerror or "unreadable") from None

    def options(self) -> dict[str, Any]:
        return {"ssl_certfile": str(self.cert), "ssl_keyfile": str(self.key)}

    def to_json(self) -> list[str]:
        return [str(self.cert), str(self.key)]


def tls_options(tls: TLSFiles | None) -> dict[str, Any]:
    return tls.options() if tls is not None else {}


def uvicorn_options(max_connections: int = MAX_CONNECTIONS, *, logs: bool = True) -> dict[str, Any]:
    """The keyword arguments of `uvicorn.Config` that bound connections, and (`logs`) the log
    configuration below; a server in a thread of another program (tests, the demo) leaves that
    program's logging as uvicorn's default would."""
    options: dict[str, Any] = {
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "limit_concurrency": max_connections,
        "backlog": BACKLOG,
        "http": HeadDeadline,
    }
    return options | ({"log_config": log_config()} if logs else {})


# The host agent's heartbeat: every host, every few seconds. At INFO it would bury every other
# line of the access log, so a successful one is logged at DEBUG (a failing one stays INFO).
POLL_PATH = "/v1/hosts/me/assignments"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class QuietPolls(logging.Filter):
    """uvicorn.access filter: a 2xx/3xx heartbeat is demoted to DEBUG (below the handlers'
    INFO, so not shown); uvicorn's access record args are (client, method, path, http, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        poll = (
            isinstance(args, tuple) and len(args) == 5 and str(args[2]).split("?")[0] == POLL_PATH
        )
        if poll and str(args[4]).isdigit() and int(str(args[4])) < 400:  # type: ignore[index]
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's `log_config`: one format with the request id for uvicorn's and our loggers."""
    handler = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": "plain",
        "filters": ["request_id"],
        "level": "INFO",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": "elsewhere.control.http.requestid.RequestIdFilter"},
            "quiet_polls": {"()": "elsewhere.control.serve.edge.QuietPolls"},
        },
        "formatters": {"plain": {"format": LOG_FORMAT}},
        "handlers": {"stderr": handler},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {
                "handlers": ["stderr"],
                "level": "INFO",
                "propagate": False,
                "filters": ["quiet_polls"],
            },
            # No level of its own: it follows the root logger's (tests lower it to DEBUG).
            "elsewhere": {"handlers": ["stderr"]},
        },
    }

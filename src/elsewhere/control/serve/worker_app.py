"""The app one worker process of `serve --workers N` serves: its ControlPlane built from the
settings the supervisor's parent left in the environment."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from elsewhere.control.config import ControlConfig, ControlPlane
from elsewhere.control.http.app import create_asgi
from elsewhere.control.http.requestid import RequestIds
from elsewhere.control.serve.edge import TLSFiles
from elsewhere.evidence.anchors import TrustAnchor

WORKER_SETTINGS = "ELSEWHERE_SERVE_SETTINGS"


def worker_tls() -> dict[str, Any]:
    """uvicorn's TLS options for this worker (the parent checked the files)."""
    tls = json.loads(os.environ[WORKER_SETTINGS]).get("tls")
    return TLSFiles(Path(tls[0]), Path(tls[1])).options() if tls else {}


def worker_app() -> RequestIds:
    """The app of one worker process (settings from the parent, in the environment)."""
    settings = json.loads(os.environ[WORKER_SETTINGS])
    anchors = [
        TrustAnchor.emulated_root(Path(root).read_bytes(), root) for root in settings["roots"]
    ]
    roots_dir = settings.get("emulated_roots")
    config = ControlConfig.for_dir(
        Path(settings["data_dir"]),
        settings["database"],
        trust_emulated=bool(anchors) or roots_dir is not None,
        emulated_roots_dir=Path(roots_dir) if roots_dir else None,
        attest_refusal_limit=int(settings.get("attest_refusal_limit", 3)),
        keys_dir=Path(settings["keys"]) if settings.get("keys") else None,
        **settings.get("risk", {}),
    )
    cp = ControlPlane.open(config, migrate=False)
    cp.emulated_anchors = tuple(anchors)
    return create_asgi(cp)

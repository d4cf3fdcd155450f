"""The API's error messages follow each request's Accept-Language, over real HTTP (uvicorn on
loopback), without one request's language reaching a concurrent one; statuses and every other
field stay the same in every language."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from control_helpers import control_plane, database_url  # noqa: F401 (fixture)
from elsewhere.control.tenancy.auth import Kind
from waits import remaining

UNAUTHENTICATED_EN = "missing bearer token (Authorization: Bearer <token>)"
UNAUTHENTICATED_JA = "ベアラートークンがありません(Authorization: Bearer <token>)"


def test_error_messages_follow_accept_language(tmp_path: Path, database_url: str | None) -> None:  # noqa: F811
    with control_plane(tmp_path, database_url) as env, httpx.Client(base_url=env.url) as http:
        english = http.get("/v1/deployments/dep_none")
        japanese = http.get("/v1/deployments/dep_none", headers={"Accept-Language": "ja-JP"})
        ranked = http.get(
            "/v1/deployments/dep_none", headers={"Accept-Language": "fr, ja;q=0.5, en;q=0.1"}
        )
        assert english.status_code == japanese.status_code == ranked.status_code == 401
        assert english.json() == {"error": UNAUTHENTICATED_EN}
        assert japanese.json() == {"error": UNAUTHENTICATED_JA}
        assert ranked.json() == {"error": UNAUTHENTICATED_JA}
        hostile = http.get("/v1/deployments/dep_none", headers={"Accept-Language": "j" * 4000})
        assert hostile.status_code == 401 and hostile.json() == {"error": UNAUTHENTICATED_EN}

        token = env.token(Kind.HOST, "h1")
        bearer = {"Authorization": f"Bearer {token}"}
        wrong_kind = http.get("/v1/deployments/dep_none", headers=bearer)
        wrong_kind_ja = http.get(
            "/v1/deployments/dep_none", headers=bearer | {"Accept-Language": "ja"}
        )
        assert wrong_kind.status_code == wrong_kind_ja.status_code

        # Answers that are not errors are the same in every language.
        assert (
            http.get("/healthz").json()
            == http.get("/healthz", headers={"Accept-Language": "ja"}).json()
        )


def test_concurrent_requests_keep_their_own_language(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        answers: dict[str, set[str]] = {"en": set(), "ja": set()}
        barrier = threading.Barrier(4)

        def worker(language: str) -> None:
            with httpx.Client(base_url=env.url, timeout=remaining()) as http:
                barrier.wait(timeout=remaining())
                for _ in range(40):
                    answer = http.get(
                        "/v1/deployments/dep_none", headers={"Accept-Language": language}
                    )
                    answers[language].add(answer.json()["error"])

        threads = [threading.Thread(target=worker, args=(lang,)) for lang in ("en", "ja") * 2]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=remaining())
        assert answers == {"en": {UNAUTHENTICATED_EN}, "ja": {UNAUTHENTICATED_JA}}

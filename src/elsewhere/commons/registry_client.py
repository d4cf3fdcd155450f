"""What a party (or the keep) sends to the control plane's commons registry: signed
publications, proposals, decisions, sealed results. The registry is the operator's; nothing
sent here can be opened with what the operator holds."""

from __future__ import annotations

from typing import Any

import httpx

from elsewhere.commons.canon import b64
from elsewhere.commons.client import answer
from elsewhere.commons.proposals import Decision, Proposal
from elsewhere.commons.roster import PartyKeys
from elsewhere.commons.session import RunResult
from elsewhere.commons.wire import publish_message

TIMEOUT_S = 30.0


class RegistryClient:
    def __init__(self, url: str, token: str | None = None) -> None:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=url, headers=headers, timeout=TIMEOUT_S)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, doc: Any = None) -> Any:
        try:
            response = self._http.request(method, path, json=doc)
        except httpx.HTTPError as error:
            return answer("control plane", path, None, error)
        return answer("control plane", path, response, None)

    def put_roster(self, roster: dict[str, Any]) -> Any:
        return self._call("PUT", "/v1/commons/roster", roster)

    def publish(self, keys: PartyKeys, dataset_id: str, ciphertext: bytes, digest: str) -> Any:
        signature = keys.sign(publish_message(dataset_id, digest))
        doc = {
            "dataset_id": dataset_id,
            "owner": keys.name,
            "ciphertext": b64(ciphertext),
            "signature": b64(signature),
        }
        return self._call("POST", "/v1/commons/datasets", doc)

    def dataset(self, dataset_id: str) -> Any:
        return self._call("GET", f"/v1/commons/datasets/{dataset_id}")

    def propose(self, proposal: Proposal, approval: Decision) -> Any:
        return self._call(
            "POST",
            "/v1/commons/proposals",
            {"proposal": proposal.to_json(), "approval": approval.to_json()},
        )

    def decide(self, decision: Decision, proposal_id: str) -> Any:
        return self._call(
            "POST", f"/v1/commons/proposals/{proposal_id}/decisions", decision.to_json()
        )

    def proposal(self, proposal_id: str) -> Any:
        return self._call("GET", f"/v1/commons/proposals/{proposal_id}")

    def post_result(self, result: RunResult) -> Any:
        doc = {
            "sealed": {p: b64(s) for p, s in result.sealed.items()},
            "result_digest": result.result_digest,
        }
        return self._call("POST", f"/v1/commons/proposals/{result.proposal_id}/result", doc)

    def result(self, proposal_id: str) -> Any:
        return self._call("GET", f"/v1/commons/proposals/{proposal_id}/result")

    def log_checkpoint(self) -> Any:
        return self._call("GET", "/v1/commons/log/checkpoint")

    def log_consistency(self, old: int, new: int) -> Any:
        return self._call("GET", f"/v1/commons/log/consistency?old={old}&new={new}")

    def log_cosign(self, note: str) -> Any:
        return self._call("POST", "/v1/commons/log/cosignatures", {"note": note})

    def log_bundles(self, start: int = 0) -> Any:
        return self._call("GET", f"/v1/commons/log/bundles?start={start}")

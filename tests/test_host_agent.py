"""The host agent against a control plane that answers badly: each malformed heartbeat answer
is one typed, one-line error that the agent's loop logs and outlives, never a crash."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import httpx
import pytest

from elsewhere.attest import make_attester
from elsewhere.errors import InputError
from elsewhere.host.agent import HostAgent
from elsewhere.host.client import Client
from elsewhere.keep.stop import KeepStop
from waits import join, wait_for


def _agent(tmp_path: Path, body: bytes) -> tuple[HostAgent, list[int]]:
    """An agent whose control plane (an httpx transport standing in for the peer) answers
    every heartbeat with `body`."""
    polls: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        polls.append(1)
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    client = Client("http://control.invalid", "ewh_test")
    client.http = httpx.Client(
        base_url="http://control.invalid", transport=httpx.MockTransport(answer)
    )
    agent = HostAgent(client, make_attester("nil", tmp_path), name="h")
    agent.host_id = "host_1"
    return agent, polls


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b"<html>busy</html>", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "expected a JSON object"),
        (b'{"running": []}', "assignments"),
        (b'{"assignments": [{"placement": 7}]}', "assignments"),
        (b'{"assignments": "p1"}', "assignments"),
        (b'{"assignments": [], "running": "p1"}', "running"),
        (b'{"assignments": [], "running": [null]}', "running"),
    ],
)
def test_a_malformed_heartbeat_answer_is_one_typed_line(
    tmp_path: Path, body: bytes, where: str
) -> None:
    agent, _ = _agent(tmp_path, body)
    with pytest.raises(InputError) as error:
        agent.poll_once()
    assert where in str(error.value) and "\n" not in str(error.value)


def test_the_loop_outlives_bad_answers(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    agent, polls = _agent(tmp_path, b"not json at all")
    caplog.set_level(logging.WARNING, "elsewhere.host")
    loop = threading.Thread(target=agent.run, args=(0.01,), daemon=True)
    loop.start()
    try:
        # Three answers survived, or the loop died (then at once, not at the outer timeout).
        wait_for(lambda: len(polls) >= 3 or not loop.is_alive(), every=0.01)
        assert loop.is_alive()
    finally:
        agent.stop()
        join(loop)
    assert "poll failed" in caplog.text and "not JSON" in caplog.text


def test_an_answer_without_running_withdraws_nothing(tmp_path: Path) -> None:
    """A control plane that predates `running` must not make the agent stop its keeps."""
    agent, _ = _agent(tmp_path, json.dumps({"assignments": []}).encode())
    keep = agent._busy["pl_1"] = KeepStop()
    agent.poll_once()
    assert keep.reason is None
    agent, _ = _agent(tmp_path, json.dumps({"assignments": [], "running": []}).encode())
    keep = agent._busy["pl_1"] = KeepStop()
    agent.poll_once()
    assert keep.reason == "the control plane withdrew the placement"

"""The demos' narration: numbered, timed steps and indented detail lines."""

from __future__ import annotations

import time


class Narrator:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.step = 0

    def __call__(self, text: str) -> None:
        self.step += 1
        print(f"\n[{time.monotonic() - self.started:5.2f}s] {self.step}. {text}")

    @staticmethod
    def say(text: str) -> None:
        print(f"     {text}")

"""elsewhere.i18n: which language is chosen, that one request's language never reaches another,
and that produced English (reasons, reports) is re-rendered in the reader's language."""

from __future__ import annotations

import asyncio
import threading

import pytest

from elsewhere import i18n
from elsewhere.errors import InputError, NotFound
from elsewhere.policy.evaluate import RuleFailure


@pytest.mark.parametrize(
    ("explicit", "environ", "expected"),
    [
        (None, {}, "en"),
        (None, {"LANG": "ja_JP.UTF-8"}, "ja"),
        (None, {"LANG": "ja_JP.UTF-8", "LC_ALL": "C"}, "en"),  # LC_ALL overrides LANG
        (None, {"LANG": "en_US.UTF-8", "LC_MESSAGES": "ja_JP"}, "ja"),
        (None, {"LC_ALL": "ja_JP.UTF-8", "ELSEWHERE_LANG": "en"}, "en"),
        (None, {"LANG": "fr_FR.UTF-8"}, "en"),  # unsupported locale: English
        ("ja", {"ELSEWHERE_LANG": "en", "LANG": "en_US"}, "ja"),  # --lang wins
        ("en", {"LANG": "ja_JP.UTF-8"}, "en"),
        ("ja-JP", {}, "ja"),
    ],
)
def test_resolution_order(explicit: str | None, environ: dict[str, str], expected: str) -> None:
    assert i18n.resolve(explicit, environ) == expected


def test_an_unsupported_lang_option_is_refused_in_one_line() -> None:
    with pytest.raises(InputError, match=r"^--lang: xx: not a supported language \(en, ja\)$"):
        i18n.resolve("xx", {})


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("ja", "ja"),
        ("ja-JP,ja;q=0.9,en;q=0.8", "ja"),
        ("en;q=0.5, ja;q=0.8", "ja"),
        ("fr, ja;q=0.1", "ja"),
        ("fr, de", "en"),
        ("ja;q=0", "en"),
        ("ja;q=banana", "en"),  # a malformed range is ignored, not guessed
        ("*", "en"),
        ("ja" + ",x" * 400, "en"),  # oversized: not parsed
    ],
)
def test_accept_language_negotiation(header: str | None, expected: str) -> None:
    assert i18n.negotiate(header) == expected


def test_each_thread_and_task_keeps_its_own_language() -> None:
    seen: dict[str, list[str]] = {"en": [], "ja": []}
    barrier = threading.Barrier(2)

    def worker(language: str) -> None:
        with i18n.using(language):
            barrier.wait()  # both have set their language before either reads it
            for _ in range(200):
                seen[language].append(i18n.localize("internal error"))

    threads = [threading.Thread(target=worker, args=(lang,)) for lang in ("en", "ja")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(seen["en"]) == {"internal error"} and set(seen["ja"]) == {"内部エラー"}

    async def task(language: str, started: asyncio.Event, other: asyncio.Event) -> str:
        i18n.set_language(language)
        started.set()
        await other.wait()
        return i18n.current()

    async def both() -> list[str]:
        a, b = asyncio.Event(), asyncio.Event()
        return list(await asyncio.gather(task("ja", a, b), task("en", b, a)))

    assert asyncio.run(both()) == ["ja", "en"]
    assert i18n.current() == "en"


def test_reasons_stay_english_and_render_in_japanese() -> None:
    failure = RuleFailure("platforms.refuse", "platform", "AMD:Milan", "not AMD:Milan")
    assert str(failure) == "platforms.refuse: platform is AMD:Milan, required not AMD:Milan"
    with i18n.using("ja"):
        assert str(failure).startswith("platforms.refuse: platform is")  # recorded: English
        shown = i18n.localize(str(failure))
    assert shown == "platforms.refuse: platform は AMD:Milan、要件は AMD:Milan 以外"
    listed = "tee.accept: tee is nil, required one of sev-snp, sgx, tdx"
    with i18n.using("ja"):
        # A comma list inside a value is a value, not two fields of a "{a}, {b}" message.
        assert (
            i18n.localize(listed) == "tee.accept: tee は nil、要件は sev-snp, sgx, tdx のいずれか"
        )


def test_text_no_message_produced_stays_english() -> None:
    """A sentence that merely contains a template's words ("{amount} per {per}") is not
    taken apart: it stays English rather than becoming a wrong Japanese sentence."""
    summary = "risk 2500.13 GBP per year (budget 8000 GBP per year)"
    with i18n.using("ja"):
        assert i18n.localize(summary) == summary
        # Split at its ": " (an error's what: why), each part translated only if it is one.
        shown = i18n.localize("placed on genoa-veteran: " + summary)
        assert shown == "genoa-veteran に配置: " + summary
        assert i18n.localize("5,000.00 USD per year") == "年あたり 5,000.00 USD"


def test_error_messages_render_by_template_and_unknown_text_is_left_alone() -> None:
    with i18n.using("ja"):
        assert i18n.localize(NotFound("deployment dep_1").message) == (
            "deployment dep_1 が見つかりません"
        )
        assert i18n.localize("genoa") == "genoa"
        assert i18n.localize("") == ""


def test_numbers_and_money_follow_the_locale() -> None:
    assert i18n.money("5000", "USD") == "5,000.00 USD"
    assert i18n.number(1234567) == "1,234,567"
    with i18n.using("ja"):
        assert i18n.money("5000", "USD") == "$5,000.00"
        assert i18n.money("1200", "JPY") == "￥1,200"
        assert i18n.number(1234567.5, 1) == "1,234,567.5"
        assert i18n.timestamp("2026-12-04T14:05:09Z") == "2026/12/04 14:05:09 UTC"
        assert i18n.timestamp("not a time") == "not a time"
    assert i18n.timestamp("2026-12-04T14:05:09Z") == "2026-12-04T14:05:09Z"


def test_a_missing_mo_is_compiled_from_the_po(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An editable checkout without `make`: the .po is compiled in memory."""
    import shutil
    from pathlib import Path

    root = Path(str(tmp_path))
    folder = root / "ja" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    shutil.copy(i18n.LOCALE_DIR / "ja" / "LC_MESSAGES" / "elsewhere.po", folder)
    monkeypatch.setattr(i18n, "LOCALE_DIR", root)
    data = i18n._compiled("ja")
    assert data is not None and data[:4] in (b"\xde\x12\x04\x95", b"\x95\x04\x12\xde")
    assert not (folder / "elsewhere.mo").exists()

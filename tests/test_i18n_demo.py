"""`elsewhere demo` in Japanese, run as a user would (a real process): `LANG=ja_JP.UTF-8` and
`--lang ja` narrate the whole demo with no English left but identifiers, digests, command names
and the workload's own output; `--json` output is the same in every language."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO_ROOT
from waits import remaining

CLI = ["-c", "import sys; from elsewhere.cli import main; sys.exit(main())"]

# What may stay in Latin letters in Japanese output, precisely:
# 1. identifiers with inner punctuation (tee.accept, sev-snp, AMD:Milan, AES-256-GCM,
#    greeting-key, secret-greeter.wasm, elsewhere.local/control-plane, report_data);
# 2. URLs, digests (sha384:…, hex), file paths (/secrets);
# 3. these names: products, protocols, units, the demo's hosts and tenant, claim names.
IDENTIFIER = re.compile(
    r"https?://\S+|sha384:[0-9a-f]+…?|\b[0-9a-f]{8,}\b|/[\w/.-]+"
    r"|[A-Za-z0-9]+(?:[._:/+-][A-Za-z0-9]+)+"
)
NAMES = frozenset(
    {
        "ELSEWHERE", "Elsewhere", "API", "OpenAPI", "SQLite", "uvicorn", "TEE", "AMD", "SNP",
        "HPKE", "wasmtime", "WebAssembly", "Store", "WASI", "preview", "MiB", "fuel",
        "stdin", "stdout", "stderr", "USD", "Milan", "Genoa", "milan", "genoa", "nil",
        "acme", "tee", "platform", "sgx", "tdx",
    }
)  # fmt: skip
# The workload's own output (examples/workloads/secret-greeter.wat), not the CLI's words.
WORKLOAD_OUTPUT = re.compile(r"Hello, world! I hold secret \S+: \d+ bytes, fnv1a32 [0-9a-f]+")


def english_left(output: str) -> list[str]:
    found = []
    for line in output.splitlines():
        rest = IDENTIFIER.sub(" ", WORKLOAD_OUTPUT.sub(" ", line))
        found += [w for w in re.findall(r"[A-Za-z]{2,}", rest) if w not in NAMES]
    return found


def test_the_allowed_tokens_do_not_hide_english() -> None:
    """The check can fail: an untranslated sentence is found, identifiers are not."""
    assert english_left("     genoa  ACCEPTED: secret released") == [
        "ACCEPTED",
        "secret",
        "released",
    ]
    assert english_left("理由 tee.accept: tee は nil、要件は sev-snp のいずれか") == []


def _run(arguments: list[str], **environment: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LANG", "LC_ALL", "LC_MESSAGES")}
    env.pop("ELSEWHERE_LANG", None)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "src"), env.get("PYTHONPATH", "")])
    env.update(environment)
    return subprocess.run(
        [sys.executable, *CLI, *arguments],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=remaining(),
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("arguments", "environment"),
    [(["demo"], {"LANG": "ja_JP.UTF-8"}), (["demo", "--lang", "ja"], {"LANG": "C.UTF-8"})],
    ids=["LANG", "--lang"],
)
def test_the_demo_runs_in_japanese(arguments: list[str], environment: dict[str, str]) -> None:
    done = _run(arguments, **environment)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "ハードウェアによる保護はありません" in out  # the emulation warning, first
    assert "拒否: 理由 platforms.refuse: platform は AMD:Milan、要件は AMD:Milan 以外" in out
    assert "拒否: 理由 tee.accept: tee は nil" in out
    assert "完了: Milan と nil は拒否、Genoa は受理" in out
    assert "リスク予算: 年あたり $5,000.00" in out
    assert english_left(out) == [], out


@pytest.mark.parametrize(
    "arguments",
    [
        ["policy", "check", "--json", "examples/policy/refuse-milan.toml"],
        ["risk", "explain", "--json", "examples/risk/deployment.json"],
    ],
)
def test_json_output_is_identical_in_every_language(arguments: list[str]) -> None:
    english = _run(arguments)
    japanese = _run([*arguments, "--lang", "ja"])
    by_environment = _run(arguments, LANG="ja_JP.UTF-8")
    assert english.returncode == japanese.returncode == by_environment.returncode == 0
    json.loads(english.stdout)
    assert english.stdout == japanese.stdout == by_environment.stdout


def test_an_unsupported_language_is_one_line_and_exit_2() -> None:
    done = _run(["--lang", "xx", "demo"])
    assert done.returncode == 2
    assert done.stderr == "elsewhere: --lang: xx: not a supported language (en, ja)\n"
    assert done.stdout == ""


def test_the_diagram_table_is_japanese_with_lang_equals() -> None:
    done = _run(["diagram", "architecture", "--format", "table", "--lang=ja"])
    assert done.returncode == 0, done.stderr
    assert "Elsewhere のアーキテクチャ" in done.stdout and "信頼しない" in done.stdout

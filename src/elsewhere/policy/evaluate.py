"""Policy evaluation: (evidence, policy, advisories, time, expected report_data) -> Decision.

Pure and deterministic: the same inputs give the same Decision, nothing is read from the
clock, disk or network. `compile_policy` turns a Policy (and an advisory set) into an
Evaluator once: sets, per-platform rule lists and pre-built reasons, so that evaluating one
piece of evidence is a handful of set look-ups. Every rule that fails is reported, never only
the first: a refusal must say everything that is wrong with the host.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from elsewhere.claims import Claims, Tee, Vendor, VerificationResult
from elsewhere.i18n import N_
from elsewhere.policy.advisories import MEMO_LIMIT, AdvisorySet
from elsewhere.policy.model import (
    AllowList,
    FlagRule,
    IdentityMinimum,
    Policy,
    Severity,
    TcbMinimum,
    generation_matches,
)
from elsewhere.timeutil import iso

EMPTY_ADVISORIES = AdvisorySet()


@dataclass(frozen=True)
class RuleFailure:
    """One rule the evidence did not satisfy: the rule (policy key), the claim it read, the
    value found and the value the rule requires. `severity` is set for advisory rules."""

    rule: str
    claim: str
    found: str
    required: str
    severity: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"rule": self.rule, "claim": self.claim, "found": self.found}
        out["required"] = self.required
        if self.severity is not None:
            out["severity"] = self.severity
        return out

    def __str__(self) -> str:
        # English, as the ledger records it; elsewhere.i18n.localize renders it for a reader.
        return N_("{rule}: {claim} is {found}, required {required}").format(
            rule=self.rule, claim=self.claim, found=self.found, required=self.required
        )


class Decision(NamedTuple):
    """The verdict on one piece of evidence. Immutable; a NamedTuple because it is built on
    the hot path and a frozen dataclass costs several times more to construct."""

    accepted: bool
    reasons: tuple[RuleFailure, ...]
    policy_digest: str
    policy_name: str
    policy_revision: str
    evaluated_at: dt.datetime
    protection: str
    advisories: tuple[str, ...]  # every advisory that applies to the host, refused or not

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "reasons": [r.to_json() for r in self.reasons],
            "policy": {
                "digest": self.policy_digest,
                "name": self.policy_name,
                "revision": self.policy_revision,
            },
            "evaluated_at": iso(self.evaluated_at),
            "protection": self.protection,
            "advisories": list(self.advisories),
        }


def _one_of(values: Iterable[str]) -> str:
    return N_("one of {values}").format(values=", ".join(values))


def _not(value: object) -> str:
    return N_("not {value}").format(value=value)


def _platform_text(vendor: Vendor, generation: str | None) -> str:
    return f"{vendor.value}:{generation or 'unknown generation'}"


class Evaluator:
    """A policy compiled together with an advisory set. Immutable after construction, except
    for memo tables keyed by (TEE, vendor, generation), which only ever cache pure results."""

    def __init__(self, policy: Policy, advisories: AdvisorySet = EMPTY_ADVISORIES) -> None:
        self.policy = policy
        self.advisories = advisories
        self.digest = policy.digest
        self._tees = frozenset(policy.tees)
        self._tee_required = _one_of(t.value for t in policy.tees)
        self._statuses = frozenset(policy.intel_tcb_statuses)
        self._status_required = _one_of(policy.intel_tcb_statuses)
        self._refuse = frozenset(policy.advisories_refuse)
        self._allow = frozenset(policy.advisories_allow)
        self._flags: dict[Tee, tuple[FlagRule, ...]] = {
            tee: tuple(f for f in policy.flags if f.tee is tee) for tee in Tee
        }
        self._identity_minimums: dict[Tee, tuple[IdentityMinimum, ...]] = {
            tee: tuple(m for m in policy.identity_minimums if m.tee is tee) for tee in Tee
        }
        self._allow_lists: dict[Tee, tuple[tuple[AllowList, frozenset[str], str], ...]] = {
            tee: tuple(
                (a, frozenset(a.allowed), _one_of(a.allowed))
                for a in policy.allow_lists
                if a.tee is tee
            )
            for tee in Tee
        }
        self._platform_memo: dict[tuple[Vendor, str | None], tuple[RuleFailure, ...]] = {}
        self._tcb_memo: dict[tuple[Tee, str | None], tuple[TcbMinimum, ...]] = {}
        self._advisory_memo: dict[str, RuleFailure | None] = {}
        self._protection_memo: dict[tuple[Tee, bool, Vendor], str] = {}
        self._admission_rules = (
            policy.require_report_data or policy.max_age is not None or bool(policy.keep_key_suites)
        )

    # -- memoised pieces: they depend only on (vendor, generation) or the advisory ID --------

    def _platform(self, vendor: Vendor, generation: str | None) -> tuple[RuleFailure, ...]:
        key = (vendor, generation)
        found = self._platform_memo.get(key)
        if found is None:
            if len(self._platform_memo) >= MEMO_LIMIT:
                self._platform_memo.clear()
            p, text, out = self.policy, _platform_text(vendor, generation), []
            for rule in p.platform_refuse:
                if rule.matches(vendor, generation):
                    out.append(RuleFailure("platforms.refuse", "platform", text, _not(rule)))
            if p.platform_accept and not any(
                r.matches(vendor, generation) for r in p.platform_accept
            ):
                wanted = _one_of(str(r) for r in p.platform_accept)
                out.append(RuleFailure("platforms.accept", "platform", text, wanted))
            found = self._platform_memo[key] = tuple(out)
        return found

    def _tcb_rules(self, tee: Tee, generation: str | None) -> tuple[TcbMinimum, ...]:
        key = (tee, generation)
        found = self._tcb_memo.get(key)
        if found is None:
            if len(self._tcb_memo) >= MEMO_LIMIT:
                self._tcb_memo.clear()
            found = self._tcb_memo[key] = tuple(
                m
                for m in self.policy.tcb_minimums
                if m.tee is tee
                and (m.generation is None or generation_matches(m.generation, generation))
            )
        return found

    def _advisory(self, advisory_id: str) -> RuleFailure | None:
        if advisory_id in self._advisory_memo:
            return self._advisory_memo[advisory_id]
        if len(self._advisory_memo) >= MEMO_LIMIT:
            self._advisory_memo.clear()
        p, known = self.policy, self.advisories.get(advisory_id)
        severity = known.severity if known is not None else None
        effective = severity or p.unknown_severity
        label = (
            effective.value
            if severity
            else N_("unknown, taken as {severity}").format(severity=effective.value)
        )
        failure = None
        if advisory_id in self._refuse:
            failure = RuleFailure(
                "advisories.refuse", "advisory", advisory_id, _not(advisory_id), effective.value
            )
        elif (
            advisory_id not in self._allow
            and p.severity_threshold is not None
            and effective.rank >= p.severity_threshold.rank
        ):
            failure = RuleFailure(
                "advisories.severity_threshold",
                "advisory",
                f"{advisory_id} (severity {label})",
                N_("severity below {threshold} or listed in advisories.allow").format(
                    threshold=p.severity_threshold.value
                ),
                effective.value,
            )
        self._advisory_memo[advisory_id] = failure
        return failure

    # -- the evaluation ---------------------------------------------------------------------

    def evaluate(
        self,
        evidence: VerificationResult | Claims,
        *,
        at: dt.datetime,
        expected_report_data: str | None = None,
        evidence_time: dt.datetime | None = None,
        admission: bool = True,
        keep_key_suite: str | None = None,
    ) -> Decision:
        """Decide on one piece of evidence at time `at`.

        `admission=False` re-checks a keep that is already running (patching): the report_data
        binding, the keep key's suite and the evidence age were checked when it was admitted
        and are skipped. `keep_key_suite` is the HPKE suite of the key the evidence binds,
        where there is one (a release); `binding.keep_key_suites` is checked against it.
        """
        reasons: list[RuleFailure] = []
        if isinstance(evidence, VerificationResult):
            claims = evidence.claims
            if evidence.failures:
                reasons.extend(
                    RuleFailure("verification", f.check, f.found, f.expected)
                    for f in evidence.failures
                )
            if evidence_time is None:
                evidence_time = evidence.verified_at
        else:
            claims = evidence
        p, tee = self.policy, claims.tee

        if tee not in self._tees:
            reasons.append(RuleFailure("tee.accept", "tee", tee.value, self._tee_required))
        if claims.emulated and not p.allow_emulated:
            reasons.append(
                RuleFailure(
                    "tee.allow_emulated", "emulated", "true", N_("false: no hardware protection")
                )
            )
        if claims.debug and not p.allow_debug:
            reasons.append(RuleFailure("tee.allow_debug", "debug", "true", "false"))
        if tee is not Tee.NIL:
            reasons.extend(self._platform(claims.vendor, claims.generation))
            tcb = claims.tcb
            for rule in self._tcb_rules(tee, claims.generation):
                value = tcb.get(rule.component)
                if value is None or value < rule.minimum:
                    reasons.append(
                        RuleFailure(
                            rule.key,
                            f"tcb.{rule.component}",
                            N_("absent") if value is None else str(value),
                            f">= {rule.minimum}",
                        )
                    )
            if tee is Tee.TDX or tee is Tee.SGX:
                status = claims.tcb_status
                if status not in self._statuses:
                    reasons.append(
                        RuleFailure(
                            "intel.tcb_status",
                            "tcb_status",
                            status or N_("absent"),
                            self._status_required,
                        )
                    )
            for flag_rule in self._flags[tee]:
                flag = claims.smt if flag_rule.name == "smt" else claims.flags.get(flag_rule.name)
                if flag is not flag_rule.required:
                    found = N_("absent") if flag is None else str(flag).lower()
                    reasons.append(
                        RuleFailure(
                            flag_rule.key, flag_rule.name, found, str(flag_rule.required).lower()
                        )
                    )
            for minimum in self._identity_minimums[tee]:
                number = claims.identity.get(minimum.name)
                if not isinstance(number, int) or number < minimum.minimum:
                    found = N_("absent") if number is None else str(number)
                    reasons.append(
                        RuleFailure(minimum.key, minimum.name, found, f">= {minimum.minimum}")
                    )
            for allow, allowed, required in self._allow_lists[tee]:
                source = claims.measurements if allow.section == "measurements" else claims.identity
                raw = source.get(allow.name)
                value_text = None if raw is None else str(raw)
                if value_text not in allowed:
                    found = N_("absent") if value_text is None else value_text
                    reasons.append(RuleFailure(allow.key, allow.name, found, required))

        applying = self.advisories.affecting(claims) if self.advisories else claims.advisory_ids
        for advisory_id in applying:
            failure = self._advisory(advisory_id)
            if failure is not None:
                reasons.append(failure)

        if admission and (self._admission_rules or expected_report_data is not None):
            reasons.extend(
                self._admission(claims, at, expected_report_data, evidence_time, keep_key_suite)
            )

        return Decision(
            accepted=not reasons,
            reasons=tuple(reasons),
            policy_digest=self.digest,
            policy_name=p.name,
            policy_revision=p.revision,
            evaluated_at=at,
            protection=self._protection(claims, at),
            advisories=tuple(applying),
        )

    def _protection(self, claims: Claims, at: dt.datetime) -> str:
        key = (claims.tee, claims.emulated, claims.vendor)
        found = self._protection_memo.get(key)
        if found is None:  # the wording is VerificationResult's; computed once per kind
            found = VerificationResult(claims, (), at, "claims").protection
            self._protection_memo[key] = found
        return found

    def _admission(
        self,
        claims: Claims,
        at: dt.datetime,
        expected: str | None,
        evidence_time: dt.datetime | None,
        keep_key_suite: str | None,
    ) -> list[RuleFailure]:
        """Rules that only make sense when evidence is first presented: binding (report_data,
        the keep key's suite) and age."""
        out = []
        if expected is not None:
            # Claims hex is lower case; a shorter expected value is zero-padded (a 32-byte
            # hash in a 64-byte field)
            want = expected.lower().ljust(len(claims.report_data), "0")
            if claims.report_data != want:
                out.append(RuleFailure("binding", "report_data", claims.report_data, want))
        elif self.policy.require_report_data:
            out.append(
                RuleFailure(
                    "binding.require_report_data",
                    "report_data",
                    N_("no expected value supplied by the caller"),
                    N_("the caller's expected report_data"),
                )
            )
        suites = self.policy.keep_key_suites
        if suites and keep_key_suite is not None and keep_key_suite not in suites:
            out.append(
                RuleFailure(
                    "binding.keep_key_suites", "keep key suite", keep_key_suite, " or ".join(suites)
                )
            )
        max_age = self.policy.max_age
        if max_age is not None:
            if evidence_time is None:
                out.append(
                    RuleFailure("freshness.max_age", "evidence age", "unknown", f"<= {max_age}")
                )
            elif at - evidence_time > max_age:
                out.append(
                    RuleFailure(
                        "freshness.max_age",
                        "evidence age",
                        str(at - evidence_time),
                        f"<= {max_age}",
                    )
                )
        return out


@functools.lru_cache(maxsize=32)
def compile_policy(policy: Policy, advisories: AdvisorySet = EMPTY_ADVISORIES) -> Evaluator:
    """Compile once; the same (policy, advisories) gives back the same Evaluator."""
    return Evaluator(policy, advisories)


def evaluate(
    evidence: VerificationResult | Claims,
    policy: Policy,
    *,
    at: dt.datetime,
    advisories: AdvisorySet = EMPTY_ADVISORIES,
    expected_report_data: str | None = None,
    evidence_time: dt.datetime | None = None,
) -> Decision:
    """One-shot form of Evaluator.evaluate (compiles, with a small cache)."""
    return compile_policy(policy, advisories).evaluate(
        evidence, at=at, expected_report_data=expected_report_data, evidence_time=evidence_time
    )


__all__ = ["Decision", "Evaluator", "RuleFailure", "Severity", "compile_policy", "evaluate"]

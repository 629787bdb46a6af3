"""Verdicts from what HTCondor recorded when the logs say nothing known: hold codes, signals, exit codes.

One table per kind of fact, so a reader can check each row against HTCondor's manual
(hold reason codes: ``condor_holdcodes.h``; signals: signal(7)). A shell reports a job
killed by signal N as exit code 128+N; that is read as the signal.
"""

from __future__ import annotations

from dataclasses import dataclass

from prodops.constants import Category
from prodops.triage.verdict import FACTS, FALLBACK, JobFacts, Verdict

C = Category


@dataclass(frozen=True)
class Rule:
    category: Category
    explain: str
    service: str | None = None
    retryable: bool = False
    resource: str | None = None
    confidence: float = 0.7


HOLD_CODES: dict[int, Rule] = {
    1: Rule(C.UNKNOWN, "A person put the job on hold (condor_hold); ask them why.", confidence=0.5),
    4: Rule(C.SERVICE, "HTCondor found the job's credentials (X.509 proxy) invalid; renew them before retrying.", "auth"),
    6: Rule(C.CODE, "HTCondor could not start the job's executable (missing or not executable); fix the workflow."),
    7: Rule(C.INFRASTRUCTURE, "HTCondor could not open the job's standard output file.", "worker-node", True),
    8: Rule(C.INFRASTRUCTURE, "HTCondor could not open the job's standard input file.", "worker-node", True),
    9: Rule(C.INFRASTRUCTURE, "HTCondor could not open the job's output stream.", "worker-node", True),
    10: Rule(C.INFRASTRUCTURE, "HTCondor could not open the job's input stream.", "worker-node", True),
    12: Rule(C.INFRASTRUCTURE, "HTCondor could not transfer the job's output back (TransferOutputError).", "batch-pool", True),
    13: Rule(C.INFRASTRUCTURE, "HTCondor could not transfer the job's input to the node (TransferInputError).", "batch-pool", True),
    14: Rule(C.INFRASTRUCTURE, "The job's initial working directory was not accessible.", "batch-pool", True),
    21: Rule(C.INFRASTRUCTURE, "The worker node (startd) put the job on hold.", "worker-node", True),
    22: Rule(C.INFRASTRUCTURE, "HTCondor could not write the job's event log.", "batch-pool", True),
    32: Rule(C.CODE, "The job's input sandbox is larger than the pool allows; make it smaller."),
    33: Rule(C.CODE, "The job's output sandbox is larger than the pool allows; write big files to storage instead."),
    34: Rule(C.INFRASTRUCTURE, "The job used more resources (memory or disk) than it requested and was held.",
            "worker-node", True, "memory"),
    35: Rule(C.CODE, "The job's container image is invalid; fix the image name."),
    45: Rule(C.INFRASTRUCTURE, "The worker node's container runtime (singularity/apptainer) test failed.",
            "worker-node", True),
    46: Rule(C.INFRASTRUCTURE, "The job's allowed duration was exceeded (HoldReasonCode 46).", "worker-node", True, "time"),
    47: Rule(C.INFRASTRUCTURE, "The job's allowed execution time was exceeded (HoldReasonCode 47).",
            "worker-node", True, "time"),
}

RESOURCE_SUBCODES_34: dict[int, str] = {102: "memory", 104: "disk"}
"""HoldReasonSubCode of code 34 that name the resource; otherwise the hold reason's text decides."""

SIGNALS: dict[int, Rule] = {
    4: Rule(C.CODE, "The program executed an illegal instruction (SIGILL); a bug or a build for another CPU."),
    6: Rule(C.CODE, "The program aborted (SIGABRT): a failed assertion or an uncaught C++ exception."),
    7: Rule(C.CODE, "The program crashed with a bus error (SIGBUS).", confidence=0.6),
    8: Rule(C.CODE, "The program crashed with a floating point exception (SIGFPE)."),
    9: Rule(C.INFRASTRUCTURE, "The job was killed (SIGKILL) by the node, its OOM killer or a person.",
            "worker-node", True, confidence=0.4),
    11: Rule(C.CODE, "The program crashed with a segmentation violation (SIGSEGV)."),
    15: Rule(C.INFRASTRUCTURE, "The job was terminated (SIGTERM), usually by the batch system or the pilot ending.",
             "worker-node", True, confidence=0.5),
    24: Rule(C.INFRASTRUCTURE, "The job ran past its CPU time limit (SIGXCPU).", "worker-node", True, "time"),
    25: Rule(C.INFRASTRUCTURE, "The job wrote a file larger than allowed (SIGXFSZ).", "worker-node", True, "disk"),
}


def _signal_of(facts: JobFacts) -> int | None:
    if facts.exit_by_signal and facts.exit_signal:
        return int(facts.exit_signal)
    if facts.exit_code is not None and 128 < facts.exit_code < 128 + 32:
        return facts.exit_code - 128
    return None


def _resource_34(facts: JobFacts) -> str:
    sub = RESOURCE_SUBCODES_34.get(facts.hold_reason_subcode or 0)
    if sub:
        return sub
    text = (facts.hold_reason or "").lower()
    return "disk" if "disk" in text else "memory"


def from_facts(facts: JobFacts) -> Verdict | None:
    """A verdict from hold codes, signals and exit codes, or None when they say nothing known."""
    if facts.state == "held" and facts.hold_reason_code in HOLD_CODES:
        code = int(facts.hold_reason_code)
        rule = HOLD_CODES[code]
        resource = _resource_34(facts) if code == 34 else rule.resource
        sub = f"/{facts.hold_reason_subcode}" if facts.hold_reason_subcode else ""
        explain = rule.explain if code != 34 else f"The job used more {resource} than it requested and was held."
        return _verdict(rule, f"hold-{code}", f"{explain} (HoldReasonCode {code}{sub})", resource)
    signal = _signal_of(facts)
    if signal is not None:
        rule = SIGNALS.get(signal)
        if rule is None:
            return None
        if signal == 9 and facts.memory_usage_mb and facts.request_memory_mb \
                and facts.memory_usage_mb >= facts.request_memory_mb:
            return _verdict(Rule(C.INFRASTRUCTURE, "The job was killed (SIGKILL) after using all the memory it"
                                 f" requested ({facts.memory_usage_mb} of {facts.request_memory_mb} MB).",
                                 "worker-node", True, "memory", 0.75), "signal-9-memory", None, "memory")
        how = "signal" if facts.exit_by_signal else f"exit code {facts.exit_code} = 128 + signal"
        return _verdict(rule, f"signal-{signal}", f"{rule.explain} ({how} {signal})", rule.resource)
    return None


def _verdict(rule: Rule, rule_id: str, explain: str | None, resource: str | None) -> Verdict:
    return Verdict(category=rule.category, rule=rule_id, source=FACTS, explain=explain or rule.explain,
                   service=rule.service, retryable=rule.retryable, confidence=rule.confidence, resource=resource)


def fallback(facts: JobFacts) -> Verdict:
    """What prodops says when nothing is known: the seed's "exited with code N", category unknown."""
    if facts.state == "held":
        text = f"held (HoldReasonCode {facts.hold_reason_code}/{facts.hold_reason_subcode or 0}): {facts.hold_reason or '-'}"
    elif facts.state == "removed":
        text = f"removed: {facts.remove_reason or 'no reason recorded'}"
    elif facts.exit_by_signal:
        text = f"killed by signal {facts.exit_signal}"
    else:
        text = f"exited with code {facts.exit_code}"
    return Verdict(category=C.UNKNOWN, rule=FALLBACK, source=FALLBACK, explain=f"The job {text}; no known error in its logs.",
                   confidence=0.2)

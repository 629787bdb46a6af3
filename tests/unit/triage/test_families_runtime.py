"""Run-time family (include/triage/patterns/runtime.yaml): glibc's heap checks, Slurm's step daemon,
curl and a full dCache, plus the abort after a report and Python's MemoryError.

Each line is the source's format string with its values filled in (program, node and host names,
ids and times are ours; the wording around them is the source's, cited beside each line).
"""

from __future__ import annotations

import pytest

from tests.unit.triage.families import best_pattern, classify_stderr

MALLOC = "https://github.com/bminor/glibc/blob/2fb12bbd092b0c10f1f2083216e723d2406e21c4/malloc/malloc.c"
FORTIFY = "https://github.com/bminor/glibc/blob/6d7e8eda9b85b08f207a6dc6f187e94e4817270f/debug/fortify_fail.c"
FORTIFY_OLD = "https://github.com/bminor/glibc/blob/04277e02d7f54d3582bebcf8386b317018cd5e1d/debug/fortify_fail.c"
SLURM = "https://github.com/SchedMD/slurm/blob/4a6c103e0dd51f2f6d1aeb8283f7d4b4ce7834ae/src/slurmd/slurmstepd/req.c"
CURL = "https://github.com/curl/curl/blob/39a33fcac0e4530ef0c60d3319504e078ea2f137/src/tool_operate.c"
DCACHE = ("https://github.com/dCache/dcache/blob/9f0a1abf06c4b20ff25082c487862ec21e79c0d2/modules/dcache/src/main/java/"
          "diskCacheV111/util/CacheException.java")

# (line, pattern id, category, retryable, resource, source of the wording)
LINES = [
    # malloc_printerr: the check's text alone (glibc >= 2.26) or in "*** Error in `%s': %s: 0x%s ***"
    ("free(): invalid pointer", "glibc-heap-corruption", "code", False, None, MALLOC),
    ("double free or corruption (!prev)", "glibc-heap-corruption", "code", False, None, MALLOC),
    ("malloc(): corrupted top size", "glibc-heap-corruption", "code", False, None, MALLOC),
    ("corrupted size vs. prev_size", "glibc-heap-corruption", "code", False, None, MALLOC),
    ("free(): double free detected in tcache 2", "glibc-heap-corruption", "code", False, None, MALLOC),
    ("*** Error in `./reco': free(): invalid next size (fast): 0x0000000001c4d010 ***",
     "glibc-heap-corruption", "code", False, None, MALLOC),
    # __fortify_fail: "*** %s ***: terminated" (stack_chk_fail.c, chk_fail.c, longjmp_chk.c's checks); before
    # glibc 2.26 "*** %s ***: %s terminated" with the program's argv[0]
    ("*** stack smashing detected ***: terminated", "glibc-fortify-abort", "code", False, None, FORTIFY),
    ("*** buffer overflow detected ***: terminated", "glibc-fortify-abort", "code", False, None, FORTIFY),
    ("*** stack smashing detected ***: ./reco terminated", "glibc-fortify-abort", "code", False, None, FORTIFY_OLD),
    ("*** longjmp causes uninitialized stack frame ***: terminated", "glibc-fortify-abort", "code", False, None,
     FORTIFY),
    # req.c: "*** %s ON %s CANCELLED AT %s DUE TO ..." (entity "JOB %u" or "STEP %u.%u")
    ("slurmstepd: error: *** JOB 7654321 ON nid00042 CANCELLED AT 2024-03-04T10:11:12 DUE TO PREEMPTION ***",
     "slurm-preempted", "infrastructure", True, None, SLURM),
    ("slurmstepd: error: *** STEP 7654321.0 ON nid00042 CANCELLED AT 2024-03-04T10:11:12 DUE TO NODE FAILURE,"
     " SEE SLURMCTLD LOG FOR DETAILS ***", "slurm-node-failure", "infrastructure", True, None, SLURM),
    ("slurmstepd: error: *** JOB 7654321 ON nid00042 CANCELLED AT 2024-03-04T10:11:12 DUE TO JOB REQUEUE ***",
     "slurm-job-requeued", "infrastructure", True, None, SLURM),
    # tool_operate.c "curl: (%d) %s" with lib/strerror.c's texts
    ("curl: (7) Failed to connect to cmsweb.cern.ch port 8443 after 3 ms: Connection refused",
     "curl-transfer-failed", "service", True, None, CURL),
    ("curl: (28) Operation timed out after 30001 milliseconds with 0 bytes received",
     "curl-transfer-failed", "service", True, None, CURL),
    ("curl: (56) Recv failure: Connection reset by peer", "curl-transfer-failed", "service", True, None, CURL),
    ("curl: (60) SSL certificate problem: unable to get local issuer certificate", "curl-tls-failed", "infrastructure", True, None,
     CURL),
    # CacheException NoFreeSpaceException, the space manager's words, RFC 959 452 from the GridFTP door
    ("diskCacheV111.util.NoFreeSpaceException: No write pools configured for <nova:raw@osm>",
     "dcache-no-free-space", "service", False, None, DCACHE),
    ("452 Insufficient resources: space with id=31334553 does not have enough space",
     "dcache-no-free-space", "service", False, None, DCACHE),
]


@pytest.mark.parametrize("line, pid, category, retryable, resource, source", LINES, ids=[row[0][:60] for row in LINES])
def test_the_best_match_of_a_source_line(line, pid, category, retryable, resource, source):
    best = best_pattern(line, source=source)
    assert (best.id, best.category.value, best.retryable, best.resource) == (pid, category, retryable, resource)


def test_heap_corruption_before_the_abort_is_the_cause():
    verdict = classify_stderr(["free(): invalid pointer", "Aborted (core dumped)"], experiment="nova", exit_code=134)
    assert (verdict.rule, verdict.category.value) == ("glibc-heap-corruption", "code")
    assert verdict.evidence[0]["text"] == "free(): invalid pointer"


def test_a_fortify_check_before_the_abort_is_the_cause():
    verdict = classify_stderr(["Begin processing the 5th record. run: 1 subRun: 0 event: 5",
                               "*** stack smashing detected ***: terminated", "Aborted (core dumped)"],
                              experiment="nova", exit_code=134)
    assert (verdict.rule, verdict.category.value) == ("glibc-fortify-abort", "code")
    assert verdict.evidence[0]["text"] == "*** stack smashing detected ***: terminated"


def test_an_abort_names_the_report_printed_before_it():
    assertion = "reco: Reco.cc:42: void Reco::run(): Assertion `n > 0' failed."
    verdict = classify_stderr(["Begin processing the 5th record. run: 1 subRun: 0 event: 5", assertion,
                               "Aborted (core dumped)"], experiment="nova", exit_code=134)
    assert verdict.category.value == "code"
    assert verdict.evidence[0]["text"] == assertion


def test_an_abort_after_noise_names_the_abort():
    verdict = classify_stderr(["Begin processing the 5th record. run: 1 subRun: 0 event: 5", "Aborted (core dumped)"],
                              experiment="nova", exit_code=134)
    assert verdict.evidence[0]["text"] == "Aborted (core dumped)"


def test_memory_error_without_a_message_is_a_memory_limit():
    verdict = classify_stderr(["Traceback (most recent call last):", '  File "merge.py", line 3, in <module>',
                               "    a = [0] * 10**12", "MemoryError"], experiment="nova", exit_code=1)
    assert (verdict.category.value, verdict.resource) == ("infrastructure", "memory")
    assert verdict.evidence[0]["text"] == "MemoryError"


def test_the_report_an_abort_followed_decides_not_the_abort():
    verdict = classify_stderr(
        [
            "terminate called after throwing an instance of 'std::bad_alloc'",
            "  what():  std::bad_alloc",
            "Aborted (core dumped)",
        ],
        experiment="nova",
        exit_code=134,
    )
    assert (verdict.rule, verdict.category.value, verdict.resource) == ("cxx:std::bad_alloc", "infrastructure", "memory")
    abort = next(c for c in verdict.decision["candidates"] if c["rule"] == "crash:Aborted")
    assert abort["category"] == "unknown" and "followed the cxx report" in abort["why"]

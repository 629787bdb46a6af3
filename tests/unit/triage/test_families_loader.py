"""Loader family (include/triage/patterns/loader.yaml): glibc's ld.so, bash and the kernel's OOM killer.

Each line is the source's format string with its values filled in (program, library and process
names are ours; the wording around them is the source's, cited beside each line).
"""

from __future__ import annotations

import pytest

from tests.unit.triage.families import best_pattern

GLIBC = "https://github.com/bminor/glibc/blob/04e750e75b73957cf1c791535a3f4319534a52fc/elf/"
BASH = "https://github.com/bminor/bash/blob/637f5c8696a6adc9b4519f1cd74aa78492266b7f/execute_cmd.c"
OOM = "https://lore.kernel.org/linux-mm/20190120215059.183552-1-shakeelb@google.com/"

# (line, pattern id, category, retryable, resource, source of the wording)
LINES = [
    # dl-catch.c "%s: %s: %s%s%s%s%s" (program, object, error) with dl-version.c "version `%s' not found (required by %s)"
    ("./reco: /lib64/libc.so.6: version `GLIBC_2.34' not found (required by ./reco)",
     "glibc-version-not-found", "infrastructure", False, None, GLIBC + "dl-version.c"),
    ("./reco: /lib64/libstdc++.so.6: version `GLIBCXX_3.4.29' not found (required by /opt/lib/libReco.so)",
     "glibc-version-not-found", "infrastructure", False, None, GLIBC + "dl-version.c"),
    # dl-catch.c occasion "error while loading shared libraries" with dl-load.c "wrong ELF class: ELFCLASS32"
    ("./reco: error while loading shared libraries: libReco.so: wrong ELF class: ELFCLASS32",
     "glibc-wrong-elf", "code", False, None, GLIBC + "dl-load.c"),
    ("./reco: error while loading shared libraries: libReco.so: invalid ELF header",
     "glibc-wrong-elf", "code", False, None, GLIBC + "dl-load.c"),
    # dl-lookup.c occasion "symbol lookup error", "undefined symbol: %s%s%s"
    ("./reco: symbol lookup error: /opt/lib/libReco.so: undefined symbol: _ZN4reco3runEv",
     "glibc-undefined-symbol", "code", False, None, GLIBC + "dl-lookup.c"),
    # dl-reloc.c "cannot allocate memory in static TLS block"
    ("./reco: error while loading shared libraries: libgomp.so.1: cannot allocate memory in static TLS block",
     "glibc-static-tls", "code", False, None, GLIBC + "dl-reloc.c"),
    # execute_cmd.c sys_error ("%s: %s: %s", command, interp, "bad interpreter") + strerror; CR shown as ^M
    ("./run.sh: /bin/bash^M: bad interpreter: No such file or directory",
     "bash-bad-interpreter", "code", False, None, BASH),
    # mm/oom_kill.c (before 5.0) "%s: Kill process %d (%s) score %u or sacrifice child"
    ("Out of memory: Kill process 18694 (cmsRun) score 246 or sacrifice child",
     "kernel-oom-kill-process", "infrastructure", True, "memory", OOM),
    ("Memory cgroup out of memory: Kill process 2603 (lar) score 761 or sacrifice child",
     "kernel-oom-kill-process", "infrastructure", True, "memory", OOM),
]


@pytest.mark.parametrize("line, pid, category, retryable, resource, source", LINES, ids=[row[0][:60] for row in LINES])
def test_the_best_match_of_a_source_line(line, pid, category, retryable, resource, source):
    best = best_pattern(line, source=source)
    assert (best.id, best.category.value, best.retryable, best.resource) == (pid, category, retryable, resource)


def test_a_missing_shared_object_stays_with_the_worker_node_environment_rule():
    line = "./reco: error while loading shared libraries: libReco.so: cannot open shared object file: No such file or directory"
    best = best_pattern(line)
    assert best.id == "setup-command-not-found"


BASH_JOBS = "https://github.com/bminor/bash/blob/637f5c8696a6adc9b4519f1cd74aa78492266b7f/jobs.c"
BASH_XMALLOC = "https://github.com/bminor/bash/blob/637f5c8696a6adc9b4519f1cd74aa78492266b7f/xmalloc.c"


@pytest.mark.parametrize("line, pid, resource, source", [
    # jobs.c sys_error ("fork: retry") / sys_error ("fork"): "<shell>: <message>: <strerror>"
    ("/srv/run.sh: fork: retry: Resource temporarily unavailable", "bash-fork-process-limit", None, BASH_JOBS),
    ("/srv/run.sh: fork: Cannot allocate memory", "bash-fork-no-memory", "memory", BASH_JOBS),
    # xmalloc.c: "%s: cannot allocate %lu bytes (%lu bytes allocated)"
    ("/srv/run.sh: xmalloc: cannot allocate 4194304 bytes (2101248 bytes allocated)", "bash-xmalloc-failed", "memory",
     BASH_XMALLOC),
])
def test_bash_s_resource_failures(line, pid, resource, source):
    best = best_pattern(line)
    assert (best.id, best.category.value, best.resource) == (pid, "infrastructure", resource), source


SIGLIST = "https://github.com/bminor/glibc/blob/04e750e75b73957cf1c791535a3f4319534a52fc/sysdeps/generic/siglist.h"


@pytest.mark.parametrize("line, pid, category, resource", [
    # jobs.c: "%s: line %d: " then the job as pretty_print_job prints it: pid, glibc's signal text,
    # "(core dumped)" when it dumped, the command
    ("/srv/run.sh: line 42:  8812 CPU time limit exceeded (core dumped) ./reco -c reco.fcl",
     "bash-job-cpu-time-limit", "infrastructure", "time"),
    ("/srv/run.sh: line 42:  8812 File size limit exceeded (core dumped) ./reco -c reco.fcl",
     "bash-job-file-size-limit", "infrastructure", "disk"),
    ("/srv/run.sh: line 42:  8812 Terminated              ./reco -c reco.fcl", "bash-job-terminated", "infrastructure", None),
])
def test_a_script_s_command_killed_by_a_signal(line, pid, category, resource):
    best = best_pattern(line)
    assert (best.id, best.category.value, best.resource) == (pid, category, resource), (BASH_JOBS, SIGLIST)

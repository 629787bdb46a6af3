"""HTCondor starter/shadow family (include/triage/patterns/htcondor.yaml): hold reasons in HTCondor's words.

The four sample HoldReasons are copied verbatim from the comment in baseshadow.cpp; the other lines
are the sources' format strings with their values filled in (paths, hosts and sizes are ours).
"""

from __future__ import annotations

import pytest

from tests.unit.triage.families import best_pattern, matched_ids

SRC = "https://github.com/htcondor/htcondor/blob/7491a145f64a1c2393ed0933375874344fa44f9f/src/"

# (line, pattern id, category, retryable, resource, source of the wording)
LINES = [
    # verbatim: baseshadow.cpp, samples 1-4 of the file-transfer hold reasons
    (r"Error from slot1@TODDS480S: SHADOW at 127.0.0.1 failed to send file(s) to <127.0.0.1:50240>: error reading from C:\condor\test\trans1.bat trans2.bat: (errno 2) No such file or directory; STARTER failed to receive file(s) from <127.0.0.1:50211>",
     "condor-output-missing", "code", False, None, SRC + "condor_shadow.V6.1/baseshadow.cpp"),
    (r"Error from slot2@TODDS480S: STARTER at 127.0.0.1 failed to send file(s) to <127.0.0.1:50212>: error reading from C:\condor\execute\dir_13724\trans2.bat: (errno 2) No such file or directory; SHADOW failed to receive file(s) from <127.0.0.1:50258>",
     "condor-output-missing", "code", False, None, SRC + "condor_shadow.V6.1/baseshadow.cpp"),
    (r"Error from slot3@TODDS480S: FILETRANSFER:1:non-zero exit (1) from C:\condor\bin\curl_plugin.exe. Error: Could not resolve host: neversslxxx.com (http://neversslxxx.com/index.html)|FILETRANSFER:1:Failed to execute C:\condor\bin/onedrive_plugin.py, ignoring|FILETRANSFER:1:Failed to execute C:\condor\bin/gdrive_plugin.py, ignoring|FILETRANSFER:1:Failed to execute C:\condor\bin\box_plugin.py, ignoring",
     "condor-transfer-plugin-failed", "service", True, None, SRC + "condor_shadow.V6.1/baseshadow.cpp"),
    (r"Error from slot1@TODDS480S: STARTER at 127.0.0.1 failed to send file(s) to <127.0.0.1:50288>; SHADOW at 127.0.0.1 failed to write to file C:\condor\test\not_there\blah: (errno 2) No such file or directory",
     "condor-ap-write-no-directory", "code", False, None, SRC + "condor_shadow.V6.1/baseshadow.cpp"),
    # os_proc.cpp: the whole message
    ("Job was OOM killed by cgroup memory limit before it could start. Consider requesting more memory.",
     "condor-oom-before-start", "infrastructure", True, "memory", SRC + "condor_starter.V6.1/os_proc.cpp"),
    # starter.cpp: "Job has exceeded allocated disk (%s). Consider increasing the value of request_disk."
    ("Job has exceeded allocated disk (2.0 GB). Consider increasing the value of request_disk.",
     "condor-disk-exceeded", "infrastructure", True, "disk", SRC + "condor_starter.V6.1/starter.cpp"),
    # os_proc.cpp: "Failed to execute '" JobName "' with arguments " args ": " + "(errno=%d: '%s')"
    ("Error from slot1_4@node12.example.org: Failed to execute '/var/lib/condor/execute/dir_1234/run.sh' with arguments 7: (errno=13: 'Permission denied')",
     "condor-exec-failed", "code", False, None, SRC + "condor_starter.V6.1/os_proc.cpp"),
    # daemon_core.cpp: "invalid interpreter (%s) specified on first line of script"
    ("Error from slot1@node12.example.org: Failed to execute '/var/lib/condor/execute/dir_1234/run.sh': invalid interpreter (/usr/bin/python2) specified on first line of script",
     "condor-exec-failed", "code", False, None, SRC + "condor_daemon_core.V6/daemon_core.cpp"),
    # daemon_core.cpp: "Cannot access initial working directory \"%s\"%s"
    ('Error from slot1@node12.example.org: Cannot access initial working directory "/home/prod/run7"',
     "condor-iwd-inaccessible", "infrastructure", True, None, SRC + "condor_daemon_core.V6/daemon_core.cpp"),
    # user_proc.cpp: "Failed to open '%s' as %s: %s (errno %d)"
    ("Error from slot1@node12.example.org: Failed to open '/home/prod/in/events.txt' as standard input: No such file or directory (errno 2)",
     "condor-std-stream-open-failed", "code", False, None, SRC + "condor_starter.V6.1/user_proc.cpp"),
    # baseshadow.cpp hold reason
    ("Failed to initialize user log", "condor-user-log-failed", "code", False, None,
     SRC + "condor_shadow.V6.1/baseshadow.cpp"),
    # file_transfer.cpp: "File transfer plugin %s timed out after %d seconds."
    ("FILETRANSFER:1:File transfer plugin /usr/libexec/condor/pelican_plugin timed out after 3600 seconds.",
     "condor-transfer-plugin-failed", "service", True, None, SRC + "condor_utils/file_transfer.cpp"),
    # baseshadow.cpp: "Transfer %s files failure at " EP " using protocol %s. Details: %s"
    ("Transfer input files failure at execution point slot1@node12.example.org using protocol osdf. Details: FILETRANSFER:1:File transfer plugin /usr/libexec/condor/pelican_plugin timed out after 3600 seconds.",
     "condor-transfer-url-failure", "service", True, None, SRC + "condor_shadow.V6.1/baseshadow.cpp"),
]


@pytest.mark.parametrize("line, pid, category, retryable, resource, source", LINES, ids=[row[0][:60] for row in LINES])
def test_the_best_match_of_a_source_line(line, pid, category, retryable, resource, source):
    best = best_pattern(line, "reason", source=source)
    assert (best.id, best.category.value, best.retryable, best.resource) == (pid, category, retryable, resource)


def test_an_exec_failure_for_another_errno_is_not_blamed_on_the_submit_file():
    # mechanics: ENOMEM (12) is the node's, not the job description's
    line = "Failed to execute '/var/lib/condor/execute/dir_1/run.sh': (errno=12: 'Cannot allocate memory')"
    assert "condor-exec-failed" not in matched_ids(line, "reason")

"""The demo chains' stand-in for dCache: down while a flag file exists, as a real outage is.

A request names the flag file (workflow option ``storage_down_flag``); a test or a demo
creates it to take the storage down and removes it to bring it back, and reports the same
outage to the service board. An empty flag file means every file is unavailable; a flag
file listing job indexes (one per line) means only those jobs' files are (their pool is
offline). Jobs then fail the way grid jobs fail on dCache: with the xrootd or ifdh error
text that prodops' triage knows.
"""

from __future__ import annotations

XROOTD_ERROR = ("Error in <TNetXNGFile::Open>: [ERROR] Server responded with an error: [3011] "
                "No servers are available to read the file.")
IFDH_ERROR = ("ifdh cp failed: gfal-copy exited with status 70: Communication error on send "
              "(dCache door refused the transfer)")


def storage_down(flag: str, job: int) -> bool:
    """Whether the storage is down for ``job`` now."""
    if not flag:
        return False
    try:
        with open(flag) as handle:
            listed = {int(word) for word in handle.read().split()}
    except FileNotFoundError:
        return False
    except ValueError:
        return True
    return not listed or job in listed


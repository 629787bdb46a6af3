"""Values into HTCondor's submit language as data, never as syntax.

A submit description is text: ``htcondor2.Schedd.submit`` writes every command as
``key = value`` lines and the item data as lines joined by ``\\x1f``, and condor_submit
expands ``$(...)``, ``$ENV(...)``, ``$RANDOM_CHOICE(...)`` in every value, recursively.
So a value from a form, a dataset or a job's output could end a command and start another
(a newline), or read the submit host's environment (``$ENV(HOME)``). Here such values are
refused, naming the field: control characters, and macro syntax (``$(``, ``$NAME(``, and
``$$``, which the schedd expands from the machine ad when the job matches). Any other ``$``
is a plain character to condor_submit and reaches the job as it is.

``$(DOLLAR)`` escaping was tried and left: condor_submit's expander does not invert it for
every input (``$(DOLLAR)(DOLLAR)`` expands to ``$``), so a refusal is the only rule that is
exact for every value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import classad2

from prodops.exceptions import SubmitFailed

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
"""C0 and C1 control characters and DEL: newline and CR end a submit command, ``\\x1f``
separates item data, NUL ends a C string."""

MACRO = re.compile(r"\$(?:\$|\(|[A-Za-z_][A-Za-z0-9_]*\()")
"""Where condor_submit (``$(x)``, ``$ENV(x)``, ``$RANDOM_CHOICE(..)``) or the schedd at match
time (``$$(x)``, ``$$([expr])``) would expand a value."""

_SIMPLE_WORD = re.compile(r"^[A-Za-z0-9_.,:/=+@%^~-]+$")


def control_character_problem(value: str) -> str | None:
    """Why ``value`` cannot be free text (it holds a control character), or None."""
    found = CONTROL.search(value)
    if found is None:
        return None
    return (f"holds the control character {found.group()!r} at position {found.start()}; "
            "give one line of printable text (no newline, tab, CR or NUL)")


def macro_problem(value: str) -> str | None:
    """Why ``value`` would be expanded by HTCondor instead of kept (it holds macro syntax), or None."""
    found = MACRO.search(value)
    if found is None:
        return None
    return (f"holds HTCondor macro syntax {found.group()!r} at position {found.start()}, which the batch"
            " system would expand; remove the '$' before it")


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot reach a job as data: a control character or macro syntax, or None."""
    return control_character_problem(value) or macro_problem(value)


def literal(value: str, field: str) -> str:
    """``value`` itself, checked to mean exactly ``value`` to condor_submit and the schedd."""
    if not isinstance(value, str):
        raise SubmitFailed(f"{field} = {value!r} is not text; pass a string")
    if problem := text_problem(value):
        raise SubmitFailed(f"{field} = {value!r} {problem}")
    return value


def classad_string(value: str, field: str) -> str:
    """``value`` as a ClassAd string literal (quotes and backslashes escaped), for ``+Attr``."""
    quoted: str = classad2.quote(literal(value, field))
    return quoted


def integer(value: object, field: str) -> str:
    """A whole number as text; anything else (a bool, a float, a string) is refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise SubmitFailed(f"{field} = {value!r} is not a whole number; pass an int")
    return str(value)


def arguments(argv: Iterable[str]) -> str:
    """argv in HTCondor's new arguments syntax (``"a 'b c' d"``): each word stays one word.

    Words are checked as :func:`literal` checks a value, so a refused word is named alone.
    """
    words = []
    for word in argv:
        if not isinstance(word, str):
            raise SubmitFailed(f"job argument {word!r} is not text; pass strings")
        if problem := text_problem(word):
            raise SubmitFailed(f"job argument {word!r} {problem}")
        if _SIMPLE_WORD.match(word):
            words.append(word)
        else:
            words.append("'" + word.replace("'", "''").replace('"', '""') + "'")
    return '"' + " ".join(words) + '"'

"""Control characters in a URL's path or query are refused (422) before any route sees them.

PostgreSQL cannot hold a NUL byte (psycopg raises DataError: a 500), and no prodops name, id or
filter holds a control character, so one check here covers every route's path and query
parameters, the ones routers add later included.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from prodops.status.events import text_problem


def _problems(scope: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for name, value in parse_qsl(scope.get("query_string", b"").decode("utf-8", "replace"), keep_blank_values=True):
        for part, text in (("name", name), ("value", value)):
            problem = text_problem(text, one_line=True)
            if problem:
                found.append({"loc": ["query", name], "field": name, "msg": f"the {part} {problem}",
                              "type": "value_error"})
    problem = text_problem(scope.get("path", ""), one_line=True)  # the server has decoded it
    if problem:
        found.append({"loc": ["path"], "field": "path", "msg": f"the path {problem}", "type": "value_error"})
    return found


class RefuseControlCharacters:
    """ASGI middleware: 422 naming the query parameter (or the path) that holds a control character."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        problems = _problems(scope) if scope["type"] == "http" else []
        if not problems:
            await self.app(scope, receive, send)
            return
        body = json.dumps({"detail": problems, "stored": 0,
                           "message": "; ".join(f"{p['field']}: {p['msg']}" for p in problems)}).encode()
        await send({"type": "http.response.start", "status": 422,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

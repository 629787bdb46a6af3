"""Reading a request body: after authentication, within a size limit, as strict JSON.

Routes take the body with ``Depends(json_body)`` declared after their authentication dependency,
never as a ``Body(...)`` parameter: FastAPI reads and parses a declared body before any
dependency runs, so an anonymous 20 MB post would be parsed before its 401.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import HTTPException, Request, status
from pydantic import BaseModel, ValidationError

from prodops.status.events import PayloadInvalid

Model = TypeVar("Model", bound=BaseModel)

MAX_BODY_BYTES = 4 * 1024 * 1024
"""Far above the largest honest payload (5,000 events of ~300 bytes); larger is refused unread (413)."""


def _too_large(size: str) -> HTTPException:
    return HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                         f"the body is {size} bytes; at most {MAX_BODY_BYTES}: split it into several requests")


def parse_json(raw: bytes) -> Any:
    """JSON, refused (422) when malformed or nested too deep to read.

    NaN and Infinity, which Python's json accepts, are read as floats so that the adapters refuse
    them by the field that holds them (a time, a ttl, an exit status) instead of the whole body.
    """
    try:
        return json.loads(raw)
    except RecursionError:
        raise PayloadInvalid([((), "is nested too deeply to read; send plain objects and lists")]) from None
    except UnicodeDecodeError as err:
        raise PayloadInvalid([((), f"is not UTF-8 text ({err.reason} at byte {err.start}); send JSON in UTF-8")]) \
            from None
    except ValueError as err:
        raise PayloadInvalid([((), f"is not valid JSON: {err}")]) from None


async def read_body(request: Request) -> bytes:
    """The raw body, refused with 413 as soon as it is known to pass the limit (by its length, or while read)."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
        raise _too_large(length)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large(f"more than {MAX_BODY_BYTES}")
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request) -> Any:
    """The body as JSON; declare it after the route's authentication dependency."""
    return parse_json(await read_body(request))


async def optional_json_body(request: Request) -> Any:
    """The body as JSON, or None when there is none."""
    raw = await read_body(request)
    return parse_json(raw) if raw.strip() else None


def parse_body(model: type[Model], payload: Any) -> Model:
    """The body as ``model``; a wrong field is PayloadInvalid naming it (422, as the status routes answer)."""
    try:
        return model.model_validate(payload)
    except ValidationError as err:
        raise PayloadInvalid([(tuple(e["loc"]), e["msg"]) for e in err.errors()]) from None

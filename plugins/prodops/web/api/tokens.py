"""Feeder tokens, for people with Airflow's configuration write access: list, issue (shown once), revoke."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, status

from prodops.status import tokens
from prodops.status.events import PayloadInvalid
from prodops.web.api.body import json_body, parse_body
from prodops.web.api.schemas import TokenBody, documented


def tokens_router(pool: Any, token_admin: Callable[..., Any]) -> APIRouter:
    router = APIRouter(dependencies=[Depends(token_admin)])

    @router.get("/api/v1/tokens", summary="List feeder tokens (never the secrets)")
    def list_tokens() -> list[dict[str, Any]]:
        with pool.connection() as conn:
            return [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()}
                    for r in tokens.list_tokens(conn)]

    @router.post("/api/v1/tokens", summary="Issue a feeder token (shown once)", status_code=status.HTTP_201_CREATED,
                 openapi_extra=documented(TokenBody))
    def issue_token(payload: Any = Depends(json_body)) -> dict[str, Any]:
        body = parse_body(TokenBody, payload)
        try:
            with pool.connection() as conn:
                token_id, token = tokens.issue(conn, body.feeder, body.note, services=body.services,
                                               expires_at=body.expires_at)
                conn.commit()
        except ValueError as err:
            field = {"service": "services"}.get(str(err).split(" ", 1)[0], str(err).split(" ", 1)[0])
            raise PayloadInvalid([((field,), str(err))]) from None  # tokens.issue names the field first
        return {"id": token_id, "feeder": body.feeder, "token": token}

    @router.delete("/api/v1/tokens/{token_id}", summary="Revoke a feeder token")
    def revoke_token(token_id: int) -> dict[str, Any]:
        with pool.connection() as conn:
            revoked = tokens.revoke(conn, id=token_id)
            conn.commit()
        if not revoked:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no active token {token_id}")
        return {"id": token_id, "revoked": True}

    return router

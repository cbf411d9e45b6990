"""SSH keys: list (``name``, ``fingerprint``, label selector, sort, pages), create, get,
update, delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from pydantic import BaseModel

from hetzner_sim.common import NameLabels, listing, project_of, sim_of


class SshKeyCreate(BaseModel):
    name: str
    public_key: str
    labels: dict[str, str] | None = None


def register(app: FastAPI) -> None:
    ssh_sorts: dict[str, Callable[[Any], Any]] = {"id": lambda k: k.id, "name": lambda k: k.name}

    @app.get("/v1/ssh_keys")
    async def list_ssh_keys(request: Request) -> dict[str, Any]:
        query = request.query_params
        keys = [
            k
            for k in project_of(request).ssh_keys.values()
            if query.get("name") in (None, k.name) and query.get("fingerprint") in (None, k.fingerprint)
        ]
        return listing(request, "ssh_keys", keys, lambda k: k.as_json(), ssh_sorts)

    @app.post("/v1/ssh_keys", status_code=201)
    async def create_ssh_key(request: Request, body: SshKeyCreate) -> dict[str, Any]:
        key = sim_of(request).create_ssh_key(project_of(request), body.name, body.public_key, body.labels)
        return {"ssh_key": key.as_json()}

    @app.get("/v1/ssh_keys/{key_id}")
    async def get_ssh_key(request: Request, key_id: int) -> dict[str, Any]:
        return {"ssh_key": sim_of(request).ssh_key(project_of(request), key_id).as_json()}

    @app.put("/v1/ssh_keys/{key_id}")
    async def update_ssh_key(request: Request, key_id: int, body: NameLabels) -> dict[str, Any]:
        key = sim_of(request).update_ssh_key(project_of(request), key_id, body.name, body.labels)
        return {"ssh_key": key.as_json()}

    @app.delete("/v1/ssh_keys/{key_id}", status_code=204)
    async def delete_ssh_key(request: Request, key_id: int) -> None:
        sim_of(request).delete_ssh_key(project_of(request), key_id)

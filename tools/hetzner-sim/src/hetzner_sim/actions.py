"""``/v1/actions``: every action of the project, listed and by id."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request

from hetzner_sim.common import ActionAnswer, action_list, project_of, sim_of


def register(app: FastAPI) -> None:
    @app.get("/v1/actions")
    async def list_actions(request: Request) -> dict[str, Any]:
        sim = sim_of(request)
        return action_list(request, sim.project_actions(project_of(request)))

    @app.get("/v1/actions/{action_id}")
    async def get_action(request: Request, action_id: int) -> dict[str, Any]:
        sim = sim_of(request)
        return ActionAnswer.of(sim, sim.action(project_of(request), action_id))

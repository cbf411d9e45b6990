"""The catalog families: locations, datacenters, server types, pricing, ISOs (read only, from
:mod:`hetzner_sim.catalog`), and images (the system images and the project's snapshots and
backups: list, get, delete)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request

from cpshared.errors import NotFound
from hetzner_sim import catalog
from hetzner_sim.common import listing, multi, project_of, sim_of
from hetzner_sim.state import SnapshotImage


def register(app: FastAPI) -> None:
    @app.get("/v1/locations")
    async def list_locations(request: Request) -> dict[str, Any]:
        items = [loc for loc in catalog.LOCATIONS if request.query_params.get("name") in (None, loc.name)]
        sorts: dict[str, Callable[[Any], Any]] = {"id": lambda x: x.id, "name": lambda x: x.name}
        return listing(request, "locations", items, lambda loc: loc.as_json(), sorts)

    @app.get("/v1/locations/{location_id}")
    async def get_location(location_id: int) -> dict[str, Any]:
        loc = next((x for x in catalog.LOCATIONS if x.id == location_id), None)
        if loc is None:
            raise NotFound(f"location {location_id} not found")
        return {"location": loc.as_json()}

    @app.get("/v1/datacenters")
    async def list_datacenters(request: Request) -> dict[str, Any]:
        items = [dc for dc in catalog.DATACENTERS if request.query_params.get("name") in (None, dc.name)]
        sorts: dict[str, Callable[[Any], Any]] = {"id": lambda x: x.id, "name": lambda x: x.name}
        answer = listing(request, "datacenters", items, catalog.datacenter_json, sorts)
        answer["recommendation"] = catalog.DATACENTERS[0].id
        return answer

    @app.get("/v1/datacenters/{datacenter_id}")
    async def get_datacenter(datacenter_id: int) -> dict[str, Any]:
        dc = next((x for x in catalog.DATACENTERS if x.id == datacenter_id), None)
        if dc is None:
            raise NotFound(f"datacenter {datacenter_id} not found")
        return {"datacenter": catalog.datacenter_json(dc)}

    @app.get("/v1/server_types")
    async def list_server_types(request: Request) -> dict[str, Any]:
        items = [st for st in catalog.SERVER_TYPES if request.query_params.get("name") in (None, st.name)]
        sorts: dict[str, Callable[[Any], Any]] = {"id": lambda x: x.id, "name": lambda x: x.name}
        return listing(request, "server_types", items, catalog.server_type_json, sorts)

    @app.get("/v1/server_types/{type_id}")
    async def get_server_type(type_id: int) -> dict[str, Any]:
        st = next((x for x in catalog.SERVER_TYPES if x.id == type_id), None)
        if st is None:
            raise NotFound(f"server type {type_id} not found")
        return {"server_type": catalog.server_type_json(st)}

    @app.get("/v1/pricing")
    async def get_pricing() -> dict[str, Any]:
        return catalog.pricing_json()

    @app.get("/v1/isos")
    async def list_isos(request: Request) -> dict[str, Any]:
        query = request.query_params
        architectures = set(multi(request, "architecture"))
        wildcard = query.get("include_architecture_wildcard", "false").lower() == "true"
        items = [
            i
            for i in catalog.ISOS
            if query.get("name") in (None, i.name)
            and (not architectures or i.architecture in architectures or (wildcard and i.architecture is None))
        ]
        sorts: dict[str, Callable[[Any], Any]] = {"id": lambda x: x.id, "name": lambda x: x.name}
        return listing(request, "isos", items, catalog.iso_json, sorts)

    @app.get("/v1/isos/{iso_id}")
    async def get_iso(iso_id: int) -> dict[str, Any]:
        found = next((i for i in catalog.ISOS if i.id == iso_id), None)
        if found is None:
            raise NotFound(f"ISO {iso_id} not found")
        return {"iso": catalog.iso_json(found)}

    @app.get("/v1/images")
    async def list_images(request: Request) -> dict[str, Any]:
        sim, project = sim_of(request), project_of(request)
        every: list[catalog.Image | SnapshotImage] = [*catalog.SYSTEM_IMAGES, *project.images.values()]
        rendered = [sim.image_json(i) for i in every]
        query = request.query_params
        types, statuses = set(multi(request, "type")), set(multi(request, "status"))
        architectures = set(multi(request, "architecture"))
        rendered = [
            i
            for i in rendered
            if (not types or i["type"] in types)
            and (not statuses or i["status"] in statuses)
            and (not architectures or i["architecture"] in architectures)
            and query.get("name") in (None, i["name"])
            and query.get("bound_to") in (None, str(i["bound_to"]))
        ]
        sorts: dict[str, Callable[[Any], Any]] = {
            "id": lambda x: x["id"],
            "name": lambda x: x["name"] or "",
            "created": lambda x: x["created"],
        }
        return listing(request, "images", rendered, lambda i: i, sorts)

    @app.get("/v1/images/{image_id}")
    async def get_image(request: Request, image_id: int) -> dict[str, Any]:
        sim = sim_of(request)
        return {"image": sim.image_json(sim.image(project_of(request), image_id))}

    @app.delete("/v1/images/{image_id}", status_code=204)
    async def delete_image(request: Request, image_id: int) -> None:
        sim_of(request).delete_image(project_of(request), image_id)

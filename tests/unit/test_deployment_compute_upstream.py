"""compute's worker and the Hetzner simulator in docker-compose.yml and deploy/k8s: the worker
sets exactly what WorkerSettings reads (compute's image, not migrating in compose, after the same
migration in Kubernetes); compute and its worker talk to the simulator by default, and both they
and the simulator take the upstream token from the same secret, never from a value in the file."""

from __future__ import annotations

from typing import Any

import yaml

from compute_service.config import WorkerSettings
from cpshared.settings import env_variables, required_env_variables
from tests.unit.test_deployment_files import (
    COMPOSE_FILE,
    K8S,
    SECRET_TEMPLATE,
    interpolated,
    main_container,
    pod_spec,
    resolved_env,
)

SIM_ENDPOINT = "http://hetzner-sim:8090/v1"


def _compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict)
    return document


def _deployments() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in K8S.rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Deployment":
                found[doc["metadata"]["name"]] = doc
    return found


def test_compose_runs_the_worker_on_computes_image_with_exactly_the_worker_settings() -> None:
    services = _compose()["services"]
    worker, compute = services["compute-worker"], services["compute"]
    env = {k: interpolated(v) for k, v in worker["environment"].items()}
    assert set(env) == env_variables(WorkerSettings)
    assert required_env_variables(WorkerSettings) <= set(env)
    assert worker["image"] == compute["image"] and worker["pull_policy"] == "never" and "build" not in worker
    assert worker["command"] == ["run", "compute_service.entrypoints.worker"]
    assert env["CP_DATABASE_URL"] == interpolated(compute["environment"]["CP_DATABASE_URL"])
    assert worker["depends_on"]["compute"]["condition"] == "service_healthy"
    assert worker["depends_on"]["hetzner-sim"]["condition"] == "service_healthy"


def test_compose_points_compute_at_the_simulator_with_the_token_of_one_secret() -> None:
    document = _compose()
    services = document["services"]
    for name in ("compute", "compute-worker"):
        env = {k: interpolated(v) for k, v in services[name]["environment"].items()}
        assert env["CP_HCLOUD_ENDPOINT"] == SIM_ENDPOINT, name
        assert env["CP_HCLOUD_TOKEN_FILE"] == "/run/secrets/hcloud-token", name
        assert services[name]["secrets"] == ["hcloud-token"], name
    simulator = services["hetzner-sim"]
    assert simulator["environment"]["CP_HETZNER_SIM_TOKEN_FILE"] == "/run/secrets/hcloud-token"
    assert "CP_HETZNER_SIM_TOKEN" not in simulator["environment"]
    assert simulator["secrets"] == ["hcloud-token"]
    assert simulator["build"]["dockerfile"] == "tools/hetzner-sim/Dockerfile"
    assert "ports" not in simulator, "reached inside the compose network only"
    assert "hcloud-token" in document["secrets"]


def test_kubernetes_runs_the_worker_after_computes_migration_with_the_worker_settings() -> None:
    deployments = _deployments()
    worker, compute = deployments["compute-worker"], deployments["compute"]
    process = main_container(worker)
    secrets = {
        doc["metadata"]["name"]: dict(doc["stringData"])
        for doc in yaml.safe_load_all(SECRET_TEMPLATE.read_text())
        if doc and doc["kind"] == "Secret"
    }
    env = resolved_env(process, {"cloudplatform-common": _config_map("cloudplatform-common")}, secrets)
    assert set(env) == env_variables(WorkerSettings)
    assert process["image"] == main_container(compute)["image"]
    assert process["args"] == ["run", "compute_service.entrypoints.worker"]
    assert pod_spec(worker)["initContainers"] == pod_spec(compute)["initContainers"]
    labels = worker["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "worker"


def test_kubernetes_points_compute_at_the_simulator_with_the_token_of_one_secret() -> None:
    deployments = _deployments()
    for name in ("compute", "compute-worker"):
        process = main_container(deployments[name])
        env = {v["name"]: v.get("value") for v in process["env"]}
        assert env["CP_HCLOUD_ENDPOINT"] == SIM_ENDPOINT, name
        assert env["CP_HCLOUD_TOKEN_FILE"] == "/run/secrets/hcloud/token", name
        assert _mounts_the_token(deployments[name], process), name
    simulator = deployments["hetzner-sim"]
    assert simulator["spec"]["replicas"] == 1, "in-memory state: one replica"
    process = main_container(simulator)
    env = {v["name"]: v.get("value") for v in process["env"]}
    assert env["CP_HETZNER_SIM_TOKEN_FILE"] == "/run/secrets/hcloud/token"
    assert "CP_HETZNER_SIM_TOKEN" not in env
    assert _mounts_the_token(simulator, process)


def _mounts_the_token(deployment: dict[str, Any], container: dict[str, Any]) -> bool:
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volume = volumes.get(mounts.get("/run/secrets/hcloud", ""), {})
    return bool(volume.get("secret", {}).get("secretName") == "hcloud-token")


def _config_map(name: str) -> dict[str, str]:
    for doc in yaml.safe_load_all((K8S / "config.yaml").read_text()):
        if doc and doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == name:
            return {k: str(v) for k, v in doc["data"].items()}
    raise AssertionError(f"no ConfigMap {name}")

"""The deployment files agree with the code: docker-compose.yml, services/*/Dockerfile, deploy/.

No Docker engine and no cluster: the files are parsed and held against the settings classes
the processes build at start-up, so a variable added in code but missing from a deployment
file (or one left behind there) fails here, not in a container that will not start.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import os
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from pydantic_settings import BaseSettings

from cloudctl.paths import LocalPaths
from cloudctl.stack import ALL_SERVICES, DOMAIN_SERVICES, process_specs
from cpshared.events.relay_main import RelaySettings
from cpshared.settings import env_variables, required_env_variables

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERIGNORE = ROOT / ".dockerignore"
ENTRYPOINT_SCRIPT = ROOT / "deploy" / "docker" / "entrypoint.sh"
MARIADB_INIT_SCRIPT = ROOT / "deploy" / "docker" / "mariadb-init.sh"
K8S = ROOT / "deploy" / "k8s"
SECRET_TEMPLATE = K8S / "database-secrets.template.yaml"

INFRASTRUCTURE = ("mariadb", "kafka", "kafka-topics")
NON_ROOT_USER = 10001
# A server in a container listens on every interface of the container, or no other reaches it.
EVERY_INTERFACE = "0.0.0.0"  # noqa: S104 - checked for, not bound to

# Every service's outbox relay: its image, another module, started without migrating.
RELAY_MODULE = "cpshared.events.relay_main"
RELAY_ARGS = ["run", RELAY_MODULE]
RELAY_COMPONENT = "outbox-relay"
# How a relay's health is checked, in compose and Kubernetes: GET its /metrics.
METRICS_GET = "urllib.request.urlopen('http://127.0.0.1:' + os.environ['CP_METRICS_PORT'] + '/metrics'"

# Compose's interpolation, ${NAME}, ${NAME:-default} and ${NAME-default}, as the defaults give it.
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}")


# --- helpers -----------------------------------------------------------------------------


def settings_class(service: str) -> type[BaseSettings]:
    cls = importlib.import_module(f"{service}_service.config").Settings
    assert isinstance(cls, type) and issubclass(cls, BaseSettings)
    return cls


def interpolated(value: object) -> str:
    """A compose value as compose gives it with no variable set: each default in place."""
    return INTERPOLATION.sub(lambda m: m["default"] or "", str(value))


def password_variable(service: str) -> str:
    return f"CP_{service.upper()}_DB_PASSWORD"


def dockerfile(service: str) -> Path:
    return ROOT / "services" / service / "Dockerfile"


def dockerfile_lines(service: str) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile(service).read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def settings_accept(env: dict[str, str], cls: type[BaseSettings], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CP_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cls()


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def compose_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services = compose["services"]
    assert isinstance(services, dict)
    return services


def compose_env(compose_services: dict[str, dict[str, Any]], service: str) -> dict[str, str]:
    environment = compose_services[service].get("environment", {})
    assert isinstance(environment, dict), f"{service}: write `environment` as a mapping"
    return {str(name): str(value) for name, value in environment.items()}


def k8s_files() -> list[Path]:
    return sorted(K8S.rglob("*.yaml"))


@pytest.fixture(scope="module")
def k8s_resources() -> list[dict[str, Any]]:
    resources = []
    for path in k8s_files():
        if path.name == "kustomization.yaml":
            continue
        resources += [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    return resources


def named(resources: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


@pytest.fixture(scope="module")
def config_maps(k8s_resources: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {name: {k: str(v) for k, v in cm["data"].items()} for name, cm in named(k8s_resources, "ConfigMap").items()}


@pytest.fixture(scope="module")
def secrets(k8s_resources: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {name: dict(s["stringData"]) for name, s in named(k8s_resources, "Secret").items()}


@pytest.fixture(scope="module")
def deployments(k8s_resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return named(k8s_resources, "Deployment")


@pytest.fixture(scope="module")
def k8s_services(k8s_resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return named(k8s_resources, "Service")


def resolved_env(
    container: dict[str, Any], config_maps: dict[str, dict[str, str]], secrets: dict[str, dict[str, str]]
) -> dict[str, str]:
    """A container's environment with every ConfigMap and Secret reference looked up."""
    sources = {"configMapRef": config_maps, "secretRef": secrets}
    key_sources = {"configMapKeyRef": config_maps, "secretKeyRef": secrets}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        [(kind, ref)] = source.items()
        assert ref["name"] in sources[kind], f"{container['name']}: no {kind} {ref['name']}"
        env.update(sources[kind][ref["name"]])
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = str(variable["value"])
            continue
        [(kind, ref)] = variable["valueFrom"].items()
        data = key_sources[kind].get(ref["name"])
        assert data is not None, f"{container['name']}: {variable['name']} refers to no {kind} {ref['name']}"
        assert ref["key"] in data, f"{container['name']}: {ref['name']} has no key {ref['key']}"
        env[variable["name"]] = data[ref["key"]]
    return env


def pod_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    spec = deployment["spec"]["template"]["spec"]
    assert isinstance(spec, dict)
    return spec


def main_container(deployment: dict[str, Any]) -> dict[str, Any]:
    [container] = pod_spec(deployment)["containers"]
    assert isinstance(container, dict)
    return container


def image_repository(image: str) -> str:
    """The image's name without its tag (compose's ${...} interpolated first)."""
    image = interpolated(image)
    return image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image


def relay(service: str) -> str:
    """The name of a service's outbox relay: in the local stack, docker-compose.yml and deploy/k8s."""
    return f"{service}-relay"


def compose_relays(compose_services: dict[str, dict[str, Any]]) -> set[str]:
    return {name for name, s in compose_services.items() if s.get("command") == RELAY_ARGS}


def k8s_relays(deployments: dict[str, dict[str, Any]]) -> set[str]:
    return {name for name, d in deployments.items() if main_container(d).get("args") == RELAY_ARGS}


def probes_get_metrics_on_the_metrics_port(container: dict[str, Any], env: dict[str, str]) -> None:
    """Each probe GETs /metrics on CP_METRICS_PORT from inside the container.

    Not an httpGet probe: the kubelet dials the pod's IP, and /metrics listens on 127.0.0.1
    (cpshared.metrics.serve_metrics).
    """
    assert "CP_METRICS_PORT" in env
    for name in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = container[name]
        assert set(probe) & {"exec", "httpGet", "grpc", "tcpSocket"} == {"exec"}, f"{name}: an exec probe"
        command = " ".join(probe["exec"]["command"])
        assert METRICS_GET in command, name
        [seconds] = re.findall(r"timeout=(\d+)", command)
        assert probe["timeoutSeconds"] > int(seconds), f"{name}: the kubelet waits longer than the request"


# --- docker-compose.yml ---------------------------------------------------------------------


def test_docker_compose_file_parses_into_services(compose: dict[str, Any]) -> None:
    assert isinstance(compose.get("services"), dict)
    assert all(isinstance(service, dict) for service in compose["services"].values())


def test_compose_runs_mariadb_kafka_the_topic_job_every_domain_service_and_the_gateway(
    compose_services: dict[str, dict[str, Any]],
) -> None:
    assert set(compose_services) >= {*INFRASTRUCTURE, *ALL_SERVICES}


def test_every_compose_build_context_holds_the_dockerfile_it_names(
    compose_services: dict[str, dict[str, Any]],
) -> None:
    builds = {name: s["build"] for name, s in compose_services.items() if "build" in s}
    assert builds
    for name, build in builds.items():
        context = (ROOT / build["context"]).resolve()
        assert context.is_dir(), f"{name}: build context {build['context']} does not exist"
        assert (context / build.get("dockerfile", "Dockerfile")).is_file(), f"{name}: no {build.get('dockerfile')}"


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_service_is_built_from_the_dockerfile_in_its_own_directory(
    service: str, compose_services: dict[str, dict[str, Any]]
) -> None:
    assert dockerfile(service).is_file()
    build = compose_services[service]["build"]
    assert (ROOT / build["context"]).resolve() == ROOT, "the build context is the repository root"
    assert build["dockerfile"] == f"services/{service}/Dockerfile"


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_compose_service_sets_exactly_the_variables_its_settings_read(
    service: str, compose_services: dict[str, dict[str, Any]]
) -> None:
    assert set(compose_env(compose_services, service)) == env_variables(settings_class(service))


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_compose_service_sets_every_variable_its_settings_require(
    service: str, compose_services: dict[str, dict[str, Any]]
) -> None:
    required = required_env_variables(settings_class(service))
    assert required
    assert required <= set(compose_env(compose_services, service))


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_compose_service_environment_is_accepted_by_its_settings(
    service: str, compose_services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {name: interpolated(value) for name, value in compose_env(compose_services, service).items()}
    assert env["CP_SERVICE_NAME"] == service
    settings_accept(env, settings_class(service), monkeypatch)


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_compose_database_url_names_the_services_own_database_and_user(
    service: str, compose_services: dict[str, dict[str, Any]]
) -> None:
    raw = compose_env(compose_services, service)["CP_DATABASE_URL"]
    url = urlsplit(interpolated(raw))
    assert url.scheme == "mysql+pymysql"
    assert (url.username, url.path) == (f"cp_{service}", f"/cp_{service}")
    assert (url.hostname, url.port) == ("mariadb", 3306)
    assert f":${{{password_variable(service)}:-" in raw, "the password comes from the service's own variable"


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_mariadb_gets_each_service_password_with_the_same_default_as_the_url(
    service: str, compose_services: dict[str, dict[str, Any]]
) -> None:
    given_to_mariadb = compose_env(compose_services, "mariadb")[password_variable(service)]
    assert given_to_mariadb.startswith(f"${{{password_variable(service)}:-")
    url = compose_env(compose_services, service)["CP_DATABASE_URL"]
    assert f":{given_to_mariadb}@" in url


def test_development_passwords_are_marked_as_development_only(compose_services: dict[str, dict[str, Any]]) -> None:
    defaults = {
        match["name"]: match["default"]
        for service in compose_services
        for value in compose_env(compose_services, service).values()
        for match in INTERPOLATION.finditer(value)
        if "PASSWORD" in match["name"]
    }
    assert set(defaults) >= {password_variable(s) for s in ALL_SERVICES}
    for name, default in defaults.items():
        assert default and default.startswith("dev-only-"), f"{name}'s default must say it is for development only"


def test_mariadb_init_script_is_mounted_and_creates_every_services_database_and_user(
    compose_services: dict[str, dict[str, Any]],
) -> None:
    mariadb = compose_services["mariadb"]
    assert str(mariadb["image"]).startswith("mariadb:11.")
    mounts = [str(volume).split(":") for volume in mariadb["volumes"]]
    init = [m for m in mounts if m[1].startswith("/docker-entrypoint-initdb.d/")]
    assert init and (ROOT / init[0][0]).resolve() == MARIADB_INIT_SCRIPT
    script = MARIADB_INIT_SCRIPT.read_text()
    listed = re.search(r"^\s*services=\((?P<names>[^)]*)\)", script, re.MULTILINE)
    assert listed is not None
    assert tuple(listed["names"].split()) == tuple(ALL_SERVICES)
    assert os.access(MARIADB_INIT_SCRIPT, os.X_OK)


@pytest.mark.parametrize("service", DOMAIN_SERVICES)
def test_every_grpc_service_listens_on_the_port_the_gateway_dials(
    service: str, compose_services: dict[str, dict[str, Any]]
) -> None:
    env = compose_env(compose_services, service)
    port = env["CP_GRPC_PORT"]
    assert env["CP_GRPC_HOST"] == EVERY_INTERFACE
    assert port in [str(p) for p in compose_services[service]["expose"]]
    assert compose_env(compose_services, "gateway")[f"CP_{service.upper()}_GRPC_ADDR"] == f"{service}:{port}"


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_compose_service_exposes_its_metrics_port(
    service: str, compose_services: dict[str, dict[str, Any]]
) -> None:
    port = compose_env(compose_services, service)["CP_METRICS_PORT"]
    assert port in [str(p) for p in compose_services[service]["expose"]]


def test_only_the_gateway_publishes_a_port_and_it_is_its_http_port(
    compose_services: dict[str, dict[str, Any]],
) -> None:
    publishing = {name for name, service in compose_services.items() if service.get("ports")}
    assert publishing == {"gateway"}
    env = compose_env(compose_services, "gateway")
    assert env["CP_HTTP_HOST"] == EVERY_INTERFACE
    targets = [str(mapping).rsplit(":", 1)[-1] for mapping in compose_services["gateway"]["ports"]]
    assert targets == [env["CP_HTTP_PORT"]]


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_compose_service_waits_for_healthy_mariadb_and_kafka_and_the_created_topics(
    service: str, compose_services: dict[str, dict[str, Any]]
) -> None:
    depends_on = compose_services[service]["depends_on"]
    assert depends_on["mariadb"]["condition"] == "service_healthy"
    assert depends_on["kafka"]["condition"] == "service_healthy"
    assert depends_on["kafka-topics"]["condition"] == "service_completed_successfully"


def test_the_topic_job_runs_kafka_admin_ensure_against_the_services_broker(
    compose_services: dict[str, dict[str, Any]],
) -> None:
    job = compose_services["kafka-topics"]
    assert job["command"] == ["python", "-m", "cpshared.kafka_admin", "ensure"]
    assert image_repository(job["image"]) in {image_repository(compose_services[s]["image"]) for s in ALL_SERVICES}
    assert job["depends_on"]["kafka"]["condition"] == "service_healthy"
    bootstrap = compose_env(compose_services, "kafka-topics")["CP_KAFKA_BOOTSTRAP"]
    assert {compose_env(compose_services, s)["CP_KAFKA_BOOTSTRAP"] for s in DOMAIN_SERVICES} == {bootstrap}
    advertised = compose_env(compose_services, "kafka")["KAFKA_ADVERTISED_LISTENERS"]
    assert bootstrap in advertised


def test_kafka_runs_as_a_single_kraft_node_without_automatic_topic_creation(
    compose_services: dict[str, dict[str, Any]],
) -> None:
    kafka = compose_services["kafka"]
    assert str(kafka["image"]).startswith("apache/kafka:4.")
    env = compose_env(compose_services, "kafka")
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    for name, value in env.items():
        if name.endswith(("_REPLICATION_FACTOR", "_MIN_ISR")):
            assert value == "1", f"{name}: a single node holds one replica"
    assert kafka["healthcheck"]["test"]


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_compose_service_runs_its_own_image(service: str, compose_services: dict[str, dict[str, Any]]) -> None:
    assert image_repository(compose_services[service]["image"]) == f"cloudplatform/{service}"


# --- docker-compose.yml: the outbox relays ---------------------------------------------------


def test_compose_runs_one_relay_per_service_as_the_local_stack_does(
    compose_services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    expected = {relay(s) for s in ALL_SERVICES}
    assert compose_relays(compose_services) == expected
    # The local stack runs the same relays, all in one process (relay_main --all).
    [stack] = [spec for spec in process_specs(LocalPaths(tmp_path)) if spec.module == RELAY_MODULE]
    assert {relay(s) for s in json.loads(stack.env["CP_RELAY_DATABASE_URLS"])} == expected


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_compose_relay_sets_exactly_the_variables_relay_settings_read(
    service: str, compose_services: dict[str, dict[str, Any]]
) -> None:
    env = set(compose_env(compose_services, relay(service)))
    assert env == env_variables(RelaySettings)
    assert required_env_variables(RelaySettings) <= env


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_compose_relay_environment_is_accepted_by_relay_settings(
    service: str, compose_services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {name: interpolated(value) for name, value in compose_env(compose_services, relay(service)).items()}
    assert env["CP_SERVICE_NAME"] == service
    settings_accept(env, RelaySettings, monkeypatch)


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_compose_relay_uses_its_services_own_database_url_and_the_services_broker(
    service: str, compose_services: dict[str, dict[str, Any]]
) -> None:
    env = compose_env(compose_services, relay(service))
    assert env["CP_DATABASE_URL"] == compose_env(compose_services, service)["CP_DATABASE_URL"]
    url = urlsplit(interpolated(env["CP_DATABASE_URL"]))
    assert (url.username, url.path) == (f"cp_{service}", f"/cp_{service}")
    brokers = {compose_env(compose_services, s)["CP_KAFKA_BOOTSTRAP"] for s in DOMAIN_SERVICES}
    assert brokers == {env["CP_KAFKA_BOOTSTRAP"]}


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_compose_relay_reuses_its_services_built_image_without_pulling_or_migrating(
    service: str, compose_services: dict[str, dict[str, Any]]
) -> None:
    process, server = compose_services[relay(service)], compose_services[service]
    assert "build" not in process, "the service's block builds the image once"
    assert process["image"] == server["image"]
    assert process["pull_policy"] == "never", "a local image: never looked up in a registry"
    assert process["command"] == RELAY_ARGS, "`run`: the service has migrated"
    assert process["read_only"] is True and process["cap_drop"] == ["ALL"]
    assert process["restart"] == "unless-stopped"


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_compose_relay_starts_once_its_service_is_healthy_hence_migrated_and_kafka_is(
    service: str, compose_services: dict[str, dict[str, Any]]
) -> None:
    depends_on = compose_services[relay(service)]["depends_on"]
    assert depends_on[service]["condition"] == "service_healthy"
    assert depends_on["kafka"]["condition"] == "service_healthy"


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_compose_relay_is_healthy_when_its_metrics_answer(
    service: str, compose_services: dict[str, dict[str, Any]]
) -> None:
    process = compose_services[relay(service)]
    env = compose_env(compose_services, relay(service))
    test = process["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert METRICS_GET in test[3]
    assert env["CP_METRICS_PORT"] in [str(p) for p in process["expose"]]
    assert not process.get("ports"), "a relay publishes nothing"


def test_every_image_compose_does_not_build_is_built_by_a_service_block(
    compose_services: dict[str, dict[str, Any]],
) -> None:
    built = {s["image"] for s in compose_services.values() if "build" in s}
    for name, service in compose_services.items():
        if service.get("pull_policy") == "never":
            assert service["image"] in built, f"{name}: no block builds {service['image']}"


# --- Dockerfiles and the build context ------------------------------------------------------


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_dockerfile_builds_the_service_of_its_own_directory(service: str) -> None:
    declared = re.findall(r"^ARG SERVICE=(\S+)$", dockerfile(service).read_text(), re.MULTILINE)
    assert declared == [service, service], "both stages name the service"


def test_the_domain_service_dockerfiles_differ_only_in_the_service_name() -> None:
    patterns = {dockerfile(s).read_text().replace(s, "<service>") for s in DOMAIN_SERVICES}
    assert len(patterns) == 1


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_image_generates_the_contracts_and_installs_pinned_wheels(service: str) -> None:
    instructions = dockerfile_lines(service)
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in instructions
    stages = [line for line in instructions if line.startswith("FROM ")]
    assert stages == ["FROM ${PYTHON_IMAGE} AS builder", "FROM ${PYTHON_IMAGE} AS runtime"]
    assert "RUN python libs/contracts/generate.py" in instructions
    assert any(line.startswith("RUN pip wheel") and "libs/contracts libs/shared" in line for line in instructions)
    installs = [line for line in instructions if "pip install" in line]
    assert len(installs) == 2
    assert all(re.search(r"pip install -c \S*constraints\.txt ", line) for line in installs)


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_image_runs_as_a_non_root_user_with_a_health_check(service: str) -> None:
    instructions = dockerfile_lines(service)
    users = [line for line in instructions if line.startswith("USER ")]
    assert users == [f"USER {NON_ROOT_USER}:{NON_ROOT_USER}"]
    [healthcheck] = [line for line in instructions if line.startswith("HEALTHCHECK")]
    if service == "gateway":
        assert "/healthz" in healthcheck and "CP_HTTP_PORT" in healthcheck
        assert "EXPOSE 8080 9100" in instructions
    else:
        assert "HealthStub" in healthcheck and "'127.0.0.1:'" in healthcheck and "CP_GRPC_PORT" in healthcheck
        assert "EXPOSE 50051 9100" in instructions
    assert 'ENTRYPOINT ["cp-entrypoint"]' in instructions
    assert 'CMD ["serve"]' in instructions, "by default the image migrates, then serves"


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_file_a_dockerfile_takes_from_the_context_is_there_and_not_ignored(service: str) -> None:
    ignored = [
        line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    sources: list[str] = []
    for line in dockerfile_lines(service):
        words = shlex.split(line)
        if words[0] == "COPY" and not any(w.startswith("--from") for w in words):
            sources += [w for w in words[1:-1] if not w.startswith("--")]
        if words[0] == "RUN":
            mounts = [w.removeprefix("--mount=") for w in words if w.startswith("--mount=type=bind")]
            options = [dict(o.split("=", 1) for o in m.split(",")) for m in mounts]
            sources += [o["source"] for o in options if "from" not in o]
    assert sources
    for source in (s.replace("${SERVICE}", service) for s in sources):
        assert (ROOT / source).exists(), f"{service}: {source} is not in the repository"
        for pattern in ignored:
            hidden = fnmatch.fnmatch(source, pattern) or source.startswith(pattern.rstrip("/") + "/")
            assert not hidden, f"{service}: .dockerignore's {pattern} hides {source}"


def test_dockerignore_keeps_local_state_caches_and_generated_contracts_out() -> None:
    ignored = set(DOCKERIGNORE.read_text().split())
    assert ignored >= {".git", ".venv", ".local", "libs/contracts/gen", "**/__pycache__", "**/.mypy_cache"}


def test_the_entrypoint_script_is_executable_and_knows_serve_run_and_migrate() -> None:
    assert os.access(ENTRYPOINT_SCRIPT, os.X_OK)
    script = ENTRYPOINT_SCRIPT.read_text()
    assert "python -m cpshared.migrations upgrade" in script
    for command in ("serve)", "run)", "migrate)"):
        assert command in script
    assert 'exec python -m "$@"' in script, "the server replaces the script, so it gets the signals"


# --- deploy/k8s -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", k8s_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_every_kubernetes_manifest_parses_into_named_resources(path: Path) -> None:
    documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    assert documents
    for doc in documents:
        assert doc.get("apiVersion") and doc.get("kind"), path
        if doc["kind"] != "Kustomization":
            assert doc["metadata"]["name"]


def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = {(K8S / resource).resolve() for resource in kustomization["resources"]}
    manifests = {p.resolve() for p in k8s_files() if p.name != "kustomization.yaml"}
    assert listed == manifests - {SECRET_TEMPLATE.resolve()}


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_service_has_a_deployment_and_a_service_in_kubernetes(
    service: str, deployments: dict[str, dict[str, Any]], k8s_services: dict[str, dict[str, Any]]
) -> None:
    assert service in deployments
    assert service in k8s_services


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_kubernetes_deployment_sets_every_variable_its_settings_require(
    service: str,
    deployments: dict[str, dict[str, Any]],
    config_maps: dict[str, dict[str, str]],
    secrets: dict[str, dict[str, str]],
) -> None:
    env = resolved_env(main_container(deployments[service]), config_maps, secrets)
    assert required_env_variables(settings_class(service)) <= set(env)


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_kubernetes_deployment_sets_exactly_the_variables_its_settings_read(
    service: str,
    deployments: dict[str, dict[str, Any]],
    config_maps: dict[str, dict[str, str]],
    secrets: dict[str, dict[str, str]],
) -> None:
    env = resolved_env(main_container(deployments[service]), config_maps, secrets)
    assert set(env) == env_variables(settings_class(service))


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_kubernetes_deployment_environment_is_accepted_by_its_settings(
    service: str,
    deployments: dict[str, dict[str, Any]],
    config_maps: dict[str, dict[str, str]],
    secrets: dict[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = resolved_env(main_container(deployments[service]), config_maps, secrets)
    assert env["CP_SERVICE_NAME"] == service
    settings_accept(env, settings_class(service), monkeypatch)


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_kubernetes_database_secret_names_the_services_own_database_and_user(
    service: str,
    deployments: dict[str, dict[str, Any]],
    config_maps: dict[str, dict[str, str]],
    secrets: dict[str, dict[str, str]],
) -> None:
    url = urlsplit(resolved_env(main_container(deployments[service]), config_maps, secrets)["CP_DATABASE_URL"])
    assert url.scheme == "mysql+pymysql"
    assert (url.username, url.path) == (f"cp_{service}", f"/cp_{service}")


def test_the_secret_template_holds_placeholders_not_passwords(secrets: dict[str, dict[str, str]]) -> None:
    assert set(secrets) == {f"{s}-database" for s in ALL_SERVICES}
    for name, data in secrets.items():
        for value in data.values():
            assert unquote(urlsplit(value).password or "") == "REPLACE-ME", f"{name} holds a real-looking password"


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_deployment_migrates_its_database_in_an_init_container_first(
    service: str,
    deployments: dict[str, dict[str, Any]],
    config_maps: dict[str, dict[str, str]],
    secrets: dict[str, dict[str, str]],
) -> None:
    deployment = deployments[service]
    [migrate] = pod_spec(deployment)["initContainers"]
    server = main_container(deployment)
    assert migrate["image"] == server["image"]
    assert image_repository(server["image"]) == f"cloudplatform/{service}"
    assert migrate["args"] == ["migrate"]
    assert server["args"][0] == "run", "the initContainer has migrated: the server only runs"
    migrate_url = resolved_env(migrate, config_maps, secrets)["CP_DATABASE_URL"]
    assert migrate_url == resolved_env(server, config_maps, secrets)["CP_DATABASE_URL"]


@pytest.mark.parametrize("service", DOMAIN_SERVICES)
def test_every_domain_deployment_runs_two_replicas_probed_by_grpc_on_its_grpc_port(
    service: str,
    deployments: dict[str, dict[str, Any]],
    config_maps: dict[str, dict[str, str]],
    secrets: dict[str, dict[str, str]],
) -> None:
    deployment = deployments[service]
    assert deployment["spec"]["replicas"] == 2
    server = main_container(deployment)
    port = int(resolved_env(server, config_maps, secrets)["CP_GRPC_PORT"])
    assert {"name": "grpc", "containerPort": port, "protocol": "TCP"} in server["ports"]
    assert server["args"] == ["run", f"{service}_service.entrypoints.grpc_server"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert server[probe]["grpc"] == {"port": port}


def test_the_gateway_deployment_runs_two_replicas_probed_on_healthz(
    deployments: dict[str, dict[str, Any]],
    config_maps: dict[str, dict[str, str]],
    secrets: dict[str, dict[str, str]],
) -> None:
    deployment = deployments["gateway"]
    assert deployment["spec"]["replicas"] == 2
    server = main_container(deployment)
    port = int(resolved_env(server, config_maps, secrets)["CP_HTTP_PORT"])
    assert {"name": "http", "containerPort": port, "protocol": "TCP"} in server["ports"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert server[probe]["httpGet"] == {"path": "/healthz", "port": "http"}


def test_every_kubernetes_container_has_requests_and_limits_and_runs_as_non_root(
    k8s_resources: list[dict[str, Any]],
) -> None:
    workloads = [r for r in k8s_resources if r["kind"] in {"Deployment", "Job"}]
    assert workloads
    for workload in workloads:
        spec = workload["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == NON_ROOT_USER
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            where = f"{workload['metadata']['name']}/{container['name']}"
            assert set(container["resources"]) == {"requests", "limits"}, where
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
            assert "memory" in container["resources"]["limits"], where
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, where


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_kubernetes_service_selects_its_deployments_pods_and_targets_their_ports(
    service: str, deployments: dict[str, dict[str, Any]], k8s_services: dict[str, dict[str, Any]]
) -> None:
    deployment, k8s_service = deployments[service], k8s_services[service]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = k8s_service["spec"]["selector"]
    assert selector.items() <= pod_labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    container_ports = {p["name"] for p in main_container(deployment)["ports"]}
    assert {p["targetPort"] for p in k8s_service["spec"]["ports"]} == container_ports


@pytest.mark.parametrize("service", DOMAIN_SERVICES)
def test_the_kubernetes_gateway_dials_each_backend_at_its_service(
    service: str,
    deployments: dict[str, dict[str, Any]],
    k8s_services: dict[str, dict[str, Any]],
    config_maps: dict[str, dict[str, str]],
    secrets: dict[str, dict[str, str]],
) -> None:
    gateway_env = resolved_env(main_container(deployments["gateway"]), config_maps, secrets)
    [grpc_port] = [p["port"] for p in k8s_services[service]["spec"]["ports"] if p["name"] == "grpc"]
    assert gateway_env[f"CP_{service.upper()}_GRPC_ADDR"] == f"{service}:{grpc_port}"


def test_kubernetes_has_a_job_that_creates_the_topics_on_the_services_broker(
    k8s_resources: list[dict[str, Any]],
    deployments: dict[str, dict[str, Any]],
    config_maps: dict[str, dict[str, str]],
    secrets: dict[str, dict[str, str]],
) -> None:
    [job] = named(k8s_resources, "Job").values()
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["python", "-m", "cpshared.kafka_admin", "ensure"]
    env = resolved_env(container, config_maps, secrets)
    service_brokers = {
        resolved_env(main_container(deployments[s]), config_maps, secrets)["CP_KAFKA_BOOTSTRAP"]
        for s in DOMAIN_SERVICES
    }
    assert service_brokers == {env["CP_KAFKA_BOOTSTRAP"]}
    assert int(env["CP_KAFKA_REPLICATION_FACTOR"]) >= 3, "a distributed Kafka keeps three copies"


def test_every_kubernetes_resource_is_in_the_platform_namespace(k8s_resources: list[dict[str, Any]]) -> None:
    [namespace] = named(k8s_resources, "Namespace")
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == namespace
    for resource in k8s_resources:
        if resource["kind"] != "Namespace":
            assert resource["metadata"]["namespace"] == namespace, resource["metadata"]["name"]


# --- deploy/k8s: the outbox relays ---------------------------------------------------------


def test_kubernetes_runs_one_relay_deployment_per_service(deployments: dict[str, dict[str, Any]]) -> None:
    assert k8s_relays(deployments) == {relay(s) for s in ALL_SERVICES}


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_kubernetes_relay_sets_exactly_the_variables_relay_settings_read(
    service: str,
    deployments: dict[str, dict[str, Any]],
    config_maps: dict[str, dict[str, str]],
    secrets: dict[str, dict[str, str]],
) -> None:
    env = set(resolved_env(main_container(deployments[relay(service)]), config_maps, secrets))
    assert env == env_variables(RelaySettings)
    assert required_env_variables(RelaySettings) <= env


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_kubernetes_relay_environment_is_accepted_by_relay_settings(
    service: str,
    deployments: dict[str, dict[str, Any]],
    config_maps: dict[str, dict[str, str]],
    secrets: dict[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = resolved_env(main_container(deployments[relay(service)]), config_maps, secrets)
    assert env["CP_SERVICE_NAME"] == service
    settings_accept(env, RelaySettings, monkeypatch)


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_kubernetes_relay_uses_its_services_own_database_secret_and_the_services_broker(
    service: str,
    deployments: dict[str, dict[str, Any]],
    config_maps: dict[str, dict[str, str]],
    secrets: dict[str, dict[str, str]],
) -> None:
    container = main_container(deployments[relay(service)])
    [database] = [v for v in container["env"] if v["name"] == "CP_DATABASE_URL"]
    assert database["valueFrom"]["secretKeyRef"] == {"name": f"{service}-database", "key": "CP_DATABASE_URL"}
    env = resolved_env(container, config_maps, secrets)
    url = urlsplit(env["CP_DATABASE_URL"])
    assert (url.username, url.path) == (f"cp_{service}", f"/cp_{service}")
    brokers = {
        resolved_env(main_container(deployments[s]), config_maps, secrets)["CP_KAFKA_BOOTSTRAP"]
        for s in DOMAIN_SERVICES
    }
    assert brokers == {env["CP_KAFKA_BOOTSTRAP"]}


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_kubernetes_relay_runs_its_services_image_after_the_same_migration(
    service: str,
    deployments: dict[str, dict[str, Any]],
    config_maps: dict[str, dict[str, str]],
    secrets: dict[str, dict[str, str]],
) -> None:
    relay_pod, server_pod = pod_spec(deployments[relay(service)]), pod_spec(deployments[service])
    process = main_container(deployments[relay(service)])
    assert process["image"] == main_container(deployments[service])["image"]
    assert process["args"] == RELAY_ARGS
    [migrate] = relay_pod["initContainers"]
    assert migrate == server_pod["initContainers"][0], "the server pods' own migrate initContainer"
    migrate_url = resolved_env(migrate, config_maps, secrets)["CP_DATABASE_URL"]
    assert migrate_url == resolved_env(process, config_maps, secrets)["CP_DATABASE_URL"]


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_kubernetes_relay_runs_one_or_two_replicas_probed_on_its_metrics(
    service: str,
    deployments: dict[str, dict[str, Any]],
    config_maps: dict[str, dict[str, str]],
    secrets: dict[str, dict[str, str]],
) -> None:
    deployment = deployments[relay(service)]
    assert deployment["spec"]["replicas"] in {1, 2}, "one publishes; a second only stands by"
    process = main_container(deployment)
    env = resolved_env(process, config_maps, secrets)
    assert {"name": "metrics", "containerPort": int(env["CP_METRICS_PORT"]), "protocol": "TCP"} in process["ports"]
    probes_get_metrics_on_the_metrics_port(process, env)


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_kubernetes_relay_is_labelled_as_its_services_relay_and_behind_no_service(
    service: str, deployments: dict[str, dict[str, Any]], k8s_services: dict[str, dict[str, Any]]
) -> None:
    deployment = deployments[relay(service)]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["app.kubernetes.io/name"] == service
    assert pod_labels["app.kubernetes.io/component"] == RELAY_COMPONENT
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    for name, k8s_service in k8s_services.items():
        assert not k8s_service["spec"]["selector"].items() <= pod_labels.items(), f"Service {name} selects it"


def test_no_deployment_selects_the_pods_of_another(deployments: dict[str, dict[str, Any]]) -> None:
    for name, deployment in deployments.items():
        selector = deployment["spec"]["selector"]["matchLabels"].items()
        for other_name, other in deployments.items():
            if other_name != name:
                other_labels = other["spec"]["template"]["metadata"]["labels"].items()
                assert not selector <= other_labels, f"{name}'s selector matches {other_name}'s pods"

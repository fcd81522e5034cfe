"""Static checks of the deployment files (docker-compose.yml with CeleryExecutor, the single-host
docker-compose.local.yml with LocalExecutor, Dockerfile, .env.example): no Docker engine needed. The checks of
both compose files run on each; the Celery ones (queues, workers, broker) and those of the steward and reporting
services on docker-compose.yml.

They catch the mistakes that otherwise only show up at `docker compose up`: a service that depends on a
service that does not exist, an undeclared volume, a bind mount of a folder that is not in the repo, a
${VAR} nobody documents, an env var the project never reads, a metadata DB driver that is not installed.
"""

from __future__ import annotations

import importlib.util
import re
import socket
import struct
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE_FILES = (COMPOSE_FILE, ROOT / "docker-compose.local.yml")
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"

REQUIRED_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}
# SQLAlchemy driver name -> pip distributions that provide it.
DRIVER_DISTRIBUTIONS = {
    "psycopg": {"psycopg"},
    "psycopg2": {"psycopg2", "psycopg2-binary"},
    "asyncpg": {"asyncpg"},
}


# --------------------------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module", params=COMPOSE_FILES, ids=lambda p: p.name)
def compose(request) -> dict:
    return yaml.safe_load(request.param.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def celery_services() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def airflow_services(services: dict) -> dict:
    return {name: svc for name, svc in services.items() if name.startswith("airflow-")}


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _strings(node):
    """Every string (keys and values) in a parsed YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node


def _interpolated_names(text: str) -> set[str]:
    """Variables compose interpolates in `text` (`$$` is an escaped, literal dollar)."""
    names = set()
    for match in re.finditer(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)|\$([A-Za-z_][A-Za-z0-9_]*)", text):
        if match.group(0) != "$$":
            names.add(match.group(1) or match.group(2))
    return names


def _volume_mounts(service: dict) -> list[tuple[str, str, str]]:
    """(type, source, target) of each volume of a service, short or long syntax."""
    mounts = []
    for vol in service.get("volumes") or []:
        if isinstance(vol, dict):
            mounts.append((vol.get("type", "volume"), str(vol.get("source", "")), str(vol["target"])))
            continue
        parts = vol.split(":")
        if len(parts) == 1:  # anonymous volume
            mounts.append(("volume", "", parts[0]))
            continue
        source, target = parts[0], parts[1]
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        mounts.append((kind, source, target))
    return mounts


def _depends_on(service: dict) -> list[str]:
    deps = service.get("depends_on") or []
    return list(deps) if isinstance(deps, (list, dict)) else [deps]


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    lines = [ln for ln in DOCKERFILE.read_text(encoding="utf-8").splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    instructions = []
    for line in joined.splitlines():
        if line.strip():
            instr, _, args = line.strip().partition(" ")
            instructions.append((instr.upper(), args.strip()))
    return instructions


def _dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instr, args in _dockerfile_instructions():
        if instr == "ENV":
            for key, value in re.findall(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)', args):
                env[key] = value.strip('"')
    return env


def _dockerfile_installs() -> dict[str, str]:
    """Requirements installed by `pip install` / `uv pip install` RUN lines: {distribution: specifier}."""
    installed = {}
    for instr, args in _dockerfile_instructions():
        if instr != "RUN":
            continue
        for command in re.split(r"&&|;", args):
            if not re.search(r"\bpip install\b", command):
                continue
            for token in command.split("pip install", 1)[1].split():
                token = token.strip("'\"")
                if token.startswith("-") or token.startswith("/"):
                    continue
                match = re.match(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?(.*)", token)
                if match:
                    installed[match.group(1).lower().replace("_", "-")] = match.group(3)
    return installed


def _locked_packages() -> set[str]:
    return set(re.findall(r'^name = "([^"]+)"$', (ROOT / "uv.lock").read_text(encoding="utf-8"), re.M))


def _variable_names(value: str) -> str:
    """`${VAR:?message}` -> `VAR`, so that a URL with compose variables parses and two values can be compared
    by the variables they use."""
    return re.sub(r"\$\{(\w+)[^}]*\}", r"\1", value)


def _container_path(path: str, workdir: str) -> str:
    return path if path.startswith("/") else f"{workdir.rstrip('/')}/{path.removeprefix('./')}"


# --------------------------------------------------------------------------------------------- topology
def test_required_services_exist_and_run_their_airflow_command(services: dict) -> None:
    missing = (set(REQUIRED_SERVICES) | {"airflow-init", "postgres"}) - set(services)
    assert not missing, f"docker-compose.yml lacks services {sorted(missing)}"
    for name, subcommand in REQUIRED_SERVICES.items():
        command = services[name].get("command")
        words = _command(services[name])
        # Our image has no apache/airflow entrypoint, so the command has to start with `airflow`.
        assert words[:2] == ["airflow", subcommand], f"{name} runs {command!r}"


def test_init_migrates_the_db_and_creates_the_admin(services: dict) -> None:
    init = services["airflow-init"]
    script = " ".join(init["command"]) if isinstance(init["command"], list) else init["command"]
    assert "airflow db migrate" in script
    env = _environment(init)
    assert "_AIRFLOW_WWW_USER_PASSWORD" in script or "_AIRFLOW_WWW_USER_PASSWORD" in env


def test_postgres_has_a_healthcheck_that_airflow_services_wait_for(services: dict, airflow_services) -> None:
    assert services["postgres"].get("healthcheck", {}).get("test"), "postgres needs a healthcheck"
    for name, svc in airflow_services.items():
        deps = svc.get("depends_on") or {}
        assert isinstance(deps, dict) and deps.get("postgres", {}).get("condition") == "service_healthy", name
        if name != "airflow-init":
            assert deps.get("airflow-init", {}).get("condition") == "service_completed_successfully", name


def test_every_depends_on_names_an_existing_service(services: dict) -> None:
    for name, svc in services.items():
        for dep in _depends_on(svc):
            assert dep in services, f"{name} depends on unknown service {dep!r}"
            assert dep != name, f"{name} depends on itself"


def test_every_named_volume_is_declared(compose: dict, services: dict) -> None:
    declared = set(compose.get("volumes") or {})
    for name, svc in services.items():
        for kind, source, target in _volume_mounts(svc):
            if kind == "volume" and source:
                assert source in declared, f"{name} mounts undeclared volume {source!r} at {target}"


def test_every_bind_mount_source_exists_in_the_repo(services: dict) -> None:
    for name, svc in services.items():
        for kind, source, _target in _volume_mounts(svc):
            if kind != "bind":
                continue
            assert not _interpolated_names(source), f"{name}: keep bind sources literal, got {source!r}"
            assert not source.startswith(("/", "~")), f"{name}: bind mount {source!r} is not repo-relative"
            assert (COMPOSE_FILE.parent / source).exists(), f"{name}: bind source {source!r} missing"


def test_every_build_context_has_a_dockerfile(services: dict, airflow_services: dict) -> None:
    for name, svc in services.items():
        build = svc.get("build")
        if build is None:
            continue
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        assert (COMPOSE_FILE.parent / context / dockerfile).is_file(), f"{name}: no {dockerfile} in {context}"
    unbuilt = [name for name, svc in airflow_services.items() if "build" not in svc]
    assert not unbuilt, f"Airflow services not built from the project Dockerfile: {unbuilt}"


# --------------------------------------------------------------------------------------------- variables
def test_every_interpolated_variable_is_in_env_example() -> None:
    composes = [yaml.safe_load(f.read_text(encoding="utf-8")) for f in COMPOSE_FILES]
    used = set().union(*(_interpolated_names(s) for c in composes for s in _strings(c)))
    assert used, "expected the compose file to take its secrets from ${VAR}s"
    documented = set(re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)=", ENV_EXAMPLE.read_text(encoding="utf-8"), re.M))
    assert not used - documented, f"missing from .env.example: {sorted(used - documented)}"
    assert not documented - used, f".env.example lists variables compose never uses: {sorted(documented - used)}"


def test_secrets_are_required_variables_not_defaults(compose: dict, services: dict) -> None:
    secretish = re.compile(r"PASSWORD|SECRET|FERNET_KEY|SQL_ALCHEMY_CONN")
    for name, svc in services.items():
        for key, value in _environment(svc).items():
            if secretish.search(key) and not key.endswith(("_USERNAME", "_FILE")):
                assert re.search(r"\$\{[A-Za-z_][A-Za-z0-9_]*:\?", value), (
                    f"{name}: {key} must come from a required ${{VAR:?...}}, not a literal or a default"
                )


def test_env_is_gitignored() -> None:
    patterns = {ln.strip() for ln in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()}
    assert patterns & {".env", "/.env", ".env*", "*.env"}, ".env (real secrets) must be in .gitignore"


def test_prefab_variables_are_ones_the_project_reads(services: dict) -> None:
    config_source = (ROOT / "foundation" / "config.py").read_text(encoding="utf-8")
    env = _dockerfile_env()
    for svc in services.values():
        env.update(_environment(svc))
    prefab = {key for key in env if key.startswith("PREFAB_")}
    assert {"PREFAB_DATA_DIR", "PREFAB_LANDING_DIR"} <= prefab
    unread = {key for key in prefab if f'"{key}"' not in config_source}
    assert not unread, f"set in the deployment but never read by foundation/config.py: {sorted(unread)}"


def test_landing_dir_and_data_dir_are_on_the_persistent_volume(airflow_services: dict) -> None:
    for name, svc in airflow_services.items():
        env = _dockerfile_env() | _environment(svc)
        data_dir, landing_dir = env["PREFAB_DATA_DIR"], env["PREFAB_LANDING_DIR"]
        volume_targets = [t for kind, _, t in _volume_mounts(svc) if kind == "volume"]
        assert data_dir in volume_targets, f"{name}: PREFAB_DATA_DIR {data_dir} is not on a named volume"
        assert landing_dir.startswith(data_dir.rstrip("/") + "/") or landing_dir in volume_targets, name


def test_publications_go_to_the_analysts_postgres_service(services: dict, airflow_services: dict) -> None:
    """Issue 13: the deployment includes the analysts' reporting database and the publish task writes to it."""
    urls = {_environment(svc).get("PREFAB_REPORTING_POSTGRES_URL") for svc in airflow_services.values()}
    assert len(urls) == 1 and None not in urls, f"every Airflow service needs the same reporting URL: {urls}"
    url = urlsplit(_variable_names(urls.pop()))
    target = services.get(url.hostname)
    assert target is not None, f"PREFAB_REPORTING_POSTGRES_URL names host {url.hostname!r}, not a service"
    assert target.get("image", "").startswith("postgres:") and target.get("healthcheck"), url.hostname
    env = {k: _variable_names(v) for k, v in _environment(target).items()}
    assert (url.username, url.path.lstrip("/")) == (env["POSTGRES_USER"], env["POSTGRES_DB"])
    assert url.password == env["POSTGRES_PASSWORD"], "the URL must use the server's own password variable"
    assert url.hostname != "postgres", "analysts must not share Airflow's metadata server"
    # The service that runs the publish task must wait for the database: under LocalExecutor the scheduler (tasks
    # run inside it), under Celery the warehouse queue's worker.
    runs_publish = ("airflow-worker-warehouse" if "airflow-worker-warehouse" in services else "airflow-scheduler")
    assert services[runs_publish]["depends_on"][url.hostname]["condition"] == "service_healthy"
    reader = {_environment(svc).get("PREFAB_REPORTING_READER_ROLE") for svc in airflow_services.values()}
    assert reader == {"prefab_analyst"}, reader


# --------------------------------------------------------------------------------------------- executor/DB
def test_executor_is_consistent(services: dict, airflow_services: dict) -> None:
    executors = {_environment(svc).get("AIRFLOW__CORE__EXECUTOR") for svc in airflow_services.values()}
    assert len(executors) == 1 and None not in executors, f"executor differs between services: {executors}"
    executor = executors.pop()
    if "Celery" in executor:
        assert "redis" in services, "CeleryExecutor needs a broker (redis)"
        assert _workers(services), "no celery worker"
    else:
        assert executor in {"LocalExecutor", "airflow.executors.local_executor.LocalExecutor"}, executor
        assert "redis" not in services, "redis is useless without CeleryExecutor"


def test_metadata_db_drivers_are_installed_in_the_image(services: dict, airflow_services: dict) -> None:
    installed = set(_dockerfile_installs()) | _locked_packages()
    for name, svc in airflow_services.items():
        env = _environment(svc)
        sync_url = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        # Without an explicit async URL Airflow derives postgresql+asyncpg:// from the sync one.
        async_url = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC", "postgresql+asyncpg://")
        for url in (sync_url, async_url):
            scheme = url.split(":", 1)[0]
            dialect, _, driver = scheme.partition("+")
            assert dialect == "postgresql", f"{name}: metadata DB is {scheme}, expected PostgreSQL"
            assert driver in DRIVER_DISTRIBUTIONS, f"{name}: name the driver explicitly in {scheme}"
            assert DRIVER_DISTRIBUTIONS[driver] & installed, f"{name}: {scheme} but no {driver} in the image"
        host = urlsplit(re.sub(r"\$\{[^}]*\}", "secret", sync_url)).hostname
        assert host in services and "postgres" in str(services[host].get("image")), f"{name}: DB host {host!r}"


def test_nothing_is_installed_beside_the_lock() -> None:
    """Every package of the image comes from uv.lock (`uv sync --locked`); a `pip install` after the last
    `uv sync` would be unlocked, and one before it would be removed by the (exact) sync. The one exception is
    uv itself, bootstrapped with pip at a pinned version (as the Makefile does)."""
    installs = _dockerfile_installs()
    assert installs.pop("uv", "").startswith("=="), "uv is not bootstrapped at a pinned version"
    assert not installs, f"Dockerfile installs outside uv.lock: {installs}"


def test_auth_manager_is_available_without_extra_providers(airflow_services: dict) -> None:
    managers = {_environment(svc).get("AIRFLOW__CORE__AUTH_MANAGER") for svc in airflow_services.values()}
    assert len(managers) == 1, managers
    manager = managers.pop()
    module, _, cls = manager.rpartition(".")
    provider = re.match(r"airflow\.providers\.([a-z_]+)\.", module)
    if provider:
        dist = "apache-airflow-providers-" + provider.group(1).replace("_", "-")
        assert dist in _locked_packages(), f"{manager} needs {dist}, which is not in uv.lock"
        return
    spec = importlib.util.find_spec("airflow")
    assert spec and spec.submodule_search_locations, "apache-airflow is not installed in this venv"
    source = Path(spec.submodule_search_locations[0], *module.split(".")[1:]).with_suffix(".py")
    assert source.is_file() and f"class {cls}(" in source.read_text(encoding="utf-8"), manager


def test_execution_api_url_points_at_the_api_server(services: dict, airflow_services: dict) -> None:
    for name, svc in airflow_services.items():
        url = urlsplit(_environment(svc)["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
        assert url.hostname == "airflow-apiserver" and url.path.rstrip("/") == "/execution", name
    ports = [str(p) for p in services["airflow-apiserver"].get("ports", [])]
    assert any(p.endswith(":8080") or p == "8080" for p in ports), ports


def test_shared_secrets_are_identical_across_airflow_services(airflow_services: dict) -> None:
    for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API__SECRET_KEY"):
        values = {_environment(svc).get(key) for svc in airflow_services.values()}
        assert len(values) == 1 and None not in values, f"{key} differs between services: {values}"


# --------------------------------------------------------------------------------------------- Dockerfile
def test_dockerfile_installs_from_the_lock_file() -> None:
    instructions = _dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    copies = [args for instr, args in instructions if instr == "COPY"]
    assert any("uv.lock" in args.split()[:-1] for args in copies), "Dockerfile does not COPY uv.lock"
    syncs = [args for instr, args in instructions if instr == "RUN" and "uv sync" in args]
    assert len(syncs) >= 2, "expected a dependencies-only `uv sync` layer, then the project one"
    assert all("--locked" in s and "--no-dev" in s for s in syncs), syncs
    assert "--no-install-project" in syncs[0]
    assert not any("--no-editable" in s for s in syncs), "foundation.config.PROJECT_ROOT needs the editable install"
    assert any(re.search(r"pip install\s+.*uv==\d", args) for instr, args in instructions if instr == "RUN")
    users = [args for instr, args in instructions if instr == "USER"]
    assert users and users[-1].split(":")[0] in {"50000", "airflow"}, f"image must not run as root: {users}"


def test_dockerfile_copies_every_project_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    copied = {args.split()[0].rstrip("/") for instr, args in _dockerfile_instructions() if instr == "COPY"}
    if "." in copied:
        return
    missing = set(packages) - copied
    assert not missing, f"packages not copied into the image: {sorted(missing)}"
    assert pyproject["project"].get("readme", "README.md") in copied, "hatchling needs the readme to build"


def test_dags_folder_points_where_the_dags_land(airflow_services: dict) -> None:
    docker_env = _dockerfile_env()
    workdir = "/"
    dags_copy_dest = None
    for instr, args in _dockerfile_instructions():
        if instr == "WORKDIR" and dags_copy_dest is None:
            workdir = _container_path(args, workdir)
        if instr == "COPY" and args.split()[0].rstrip("/") == "dags":
            dags_copy_dest = _container_path(args.split()[-1].rstrip("/"), workdir)
    assert docker_env.get("AIRFLOW__CORE__DAGS_FOLDER") == dags_copy_dest, (docker_env, dags_copy_dest)
    for name, svc in airflow_services.items():
        dags_folder = _environment(svc).get("AIRFLOW__CORE__DAGS_FOLDER", docker_env["AIRFLOW__CORE__DAGS_FOLDER"])
        binds = {src.rstrip("/"): tgt.rstrip("/") for kind, src, tgt in _volume_mounts(svc) if kind == "bind"}
        assert binds.get("./dags") == dags_folder, f"{name}: ./dags is mounted at {binds.get('./dags')}"
        # foundation.config finds dbt_project next to the installed package, i.e. in the WORKDIR.
        assert binds.get("./dbt_project") == str(Path(dags_folder).parent / "dbt_project"), name


# --------------------------------------------------------------------------------------------- native
@pytest.mark.postgres
def test_local_postgres_accepts_trust_auth() -> None:
    """The compose topology needs a PostgreSQL; natively, check one answers on 127.0.0.1:5432."""
    try:
        import psycopg  # type: ignore[import-not-found]
    except ImportError:
        psycopg = None
    if psycopg is not None:
        try:
            conn = psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3)
        except psycopg.OperationalError:
            pytest.skip("start PostgreSQL on 127.0.0.1:5432 (trust auth) to run this test")
        with conn:
            assert conn.execute("select 1").fetchone() == (1,)
        return
    try:
        sock = socket.create_connection(("127.0.0.1", 5432), timeout=3)
    except OSError:
        pytest.skip("start PostgreSQL on 127.0.0.1:5432 (trust auth) to run this test")
    with sock:
        # Protocol 3.0 StartupMessage; with trust auth the server answers AuthenticationOk ('R', 8, 0).
        params = b"user\0postgres\0database\0postgres\0\0"
        sock.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
        reply = sock.recv(9)
        assert reply[:1] == b"R", f"not a PostgreSQL startup reply: {reply!r}"
        (code,) = struct.unpack("!i", reply[5:9])
        assert code == 0, f"PostgreSQL on 127.0.0.1:5432 asks for authentication (code {code}), not trust"


# --------------------------------------------------------------------------------------------- Celery
def _command(service: dict) -> list[str]:
    """The service's command, `python -m airflow ...` spelled `airflow ...`."""
    command = service.get("command")
    words = command if isinstance(command, list) else str(command).split()
    return ["airflow", *words[3:]] if words[:3] == ["python", "-m", "airflow"] else words


def _option(words: list[str], *names: str) -> str | None:
    for i, word in enumerate(words):
        if word in names and i + 1 < len(words):
            return words[i + 1]
        for name in names:
            if word.startswith(name + "="):
                return word.split("=", 1)[1]
    return None


def _workers(services: dict) -> dict[str, list[str]]:
    """Celery worker services -> the queues each serves."""
    return {name: (_option(_command(svc), "--queues", "-q") or "default").split(",")
            for name, svc in services.items() if _command(svc)[:3] == ["airflow", "celery", "worker"]}


def test_every_queue_of_the_dag_is_served_and_the_warehouse_one_by_one_process(celery_services: dict, monkeypatch):
    from foundation.config import settings
    from pipeline.stages import STAGES, queue

    env = _environment(celery_services["airflow-scheduler"])
    monkeypatch.setenv("PREFAB_WAREHOUSE_QUEUE", env["PREFAB_WAREHOUSE_QUEUE"])
    monkeypatch.setenv("PREFAB_SHARED_QUEUE", env["PREFAB_SHARED_QUEUE"])
    s = settings()
    workers = _workers(celery_services)
    served = {q for queues in workers.values() for q in queues}
    assert {queue(stage, s) for stage in STAGES} | {s.warehouse_queue} <= served, workers
    warehouse = [name for name, queues in workers.items() if s.warehouse_queue in queues]
    assert warehouse == ["airflow-worker-warehouse"], warehouse
    svc = celery_services["airflow-worker-warehouse"]
    assert workers["airflow-worker-warehouse"] == [s.warehouse_queue], "it must serve nothing else"
    assert _option(_command(svc), "--concurrency", "-c") == "1"
    assert (svc.get("deploy") or {}).get("replicas", 1) == 1
    # The non-writing tasks have a worker of their own, which may be scaled.
    assert any(s.shared_queue in q and s.warehouse_queue not in q for q in workers.values()), workers
    # Both mount the data volume at the same place (the work folder passes batches from task to task).
    data = {n: [t for kind, _, t in _volume_mounts(celery_services[n]) if kind == "volume"] for n in workers}
    assert all(env["PREFAB_DATA_DIR"] in targets for targets in data.values()), data


def test_celery_broker_and_result_backend_name_their_services(celery_services: dict) -> None:
    installed = set(_dockerfile_installs()) | _locked_packages()
    assert "apache-airflow-providers-celery" in installed and "redis" in installed
    for name, svc in celery_services.items():
        env = _environment(svc)
        if env.get("AIRFLOW__CORE__EXECUTOR") != "CeleryExecutor":
            continue
        broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
        assert broker.scheme == "redis" and broker.hostname == "redis", name
        backend = env["AIRFLOW__CELERY__RESULT_BACKEND"]
        scheme = backend.split(":", 1)[0]
        assert scheme == "db+postgresql+psycopg", f"{name}: result backend {scheme}"
        assert urlsplit(re.sub(r"\$\{[^}]*\}", "secret", backend)).hostname == "postgres", name
    assert celery_services["redis"].get("healthcheck", {}).get("test")
    for name in _workers(celery_services):
        deps = celery_services[name]["depends_on"]
        assert deps["redis"]["condition"] == "service_healthy", name


def test_flower_is_behind_a_profile(celery_services: dict) -> None:
    flower = celery_services["flower"]
    assert _command(flower)[:3] == ["airflow", "celery", "flower"]
    assert flower.get("profiles") == ["flower"]


def test_steward_app_serves_the_shared_warehouse_on_loopback(celery_services: dict) -> None:
    steward = celery_services["steward"]
    assert _command(steward) == ["python", "-m", "steward", "serve"]
    env = _environment(steward)
    assert re.fullmatch(r"\$\{PREFAB_STEWARD_SECRET:\?[^}]*\}", env["PREFAB_STEWARD_SECRET"])
    worker_env = _environment(celery_services["airflow-worker-warehouse"])
    assert env["PREFAB_DATA_DIR"] == worker_env["PREFAB_DATA_DIR"]
    mounts = {(src, tgt) for kind, src, tgt in _volume_mounts(steward) if kind == "volume"}
    assert ("prefab-data", env["PREFAB_DATA_DIR"]) in mounts
    # It listens on every interface inside the container, but the host publishes it on loopback only.
    assert env["PREFAB_STEWARD_HOST"] == "0.0.0.0"
    port = env["PREFAB_STEWARD_PORT"]
    assert [str(p) for p in steward["ports"]] == [f"127.0.0.1:{port}:{port}"]


def test_reporting_postgres_url_names_the_reporting_database(celery_services: dict) -> None:
    db = _environment(celery_services["reporting-postgres"])
    assert "postgres" in celery_services["reporting-postgres"]["image"]
    assert celery_services["reporting-postgres"]["healthcheck"]["test"]
    urls = {_environment(svc).get("PREFAB_REPORTING_POSTGRES_URL") for svc in celery_services.values()
            if svc.get("command") and "airflow" in _command(svc)}
    assert len(urls) == 1 and None not in urls, urls
    raw = urls.pop()
    url = urlsplit(raw.replace(db["POSTGRES_PASSWORD"], "secret"))
    assert url.hostname == "reporting-postgres" and url.path == f"/{db['POSTGRES_DB']}"
    assert url.username == db["POSTGRES_USER"]
    assert f":{db['POSTGRES_PASSWORD']}@" in raw, "the URL's password is the database's"
    assert _environment(celery_services["airflow-worker-warehouse"])["PREFAB_REPORTING_READER_ROLE"]


def test_workers_run_tasks_where_they_may_start_processes(celery_services: dict) -> None:
    """Celery's default prefork pool runs tasks in daemonic children, which may not start processes: the read
    stage's XLSX reader then fails ("daemonic processes are not allowed to have children")."""
    for name in _workers(celery_services):
        assert _environment(celery_services[name]).get("AIRFLOW__CELERY__POOL") == "solo", name


def test_the_processes_that_run_tasks_start_airflow_as_a_module(compose: dict, services: dict) -> None:
    """A task's fork-server children (the XLSX reader) re-import a `__main__` that is a script: under the task's
    blocked metadata DB URL that import fails. `python -m airflow` makes `__main__` the package's, never re-imported.
    Tasks run in the Celery workers, or (LocalExecutor) in the scheduler."""
    executor = compose["x-airflow-common"]["environment"]["AIRFLOW__CORE__EXECUTOR"]
    runners = list(_workers(services)) if executor == "CeleryExecutor" else ["airflow-scheduler"]
    assert runners
    for name in runners:
        assert services[name]["command"][:3] == ["python", "-m", "airflow"], name

"""One loader for every command: ``pipeline.yaml`` + ``PIPELINE_*`` + flags -> frozen settings.

Precedence (highest first): command-line flag, ``PIPELINE_*`` environment variable (click reads
both; the command passes in only the values set that way, see ``commands/options.py``
``explicit``), the service's entry in ``pipeline.yaml``, the top level of ``pipeline.yaml``, the
built-in default (docs/deploy-canary.md, "Configuration").

``load_config`` is the only function here that does I/O (it reads the file). Every problem of
the file is reported at once, naming the file and the key: unknown keys, values of the wrong
type, a document that is not a mapping. The settings builders below are pure.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pipeline.core.inputs import non_negative_count, non_negative_seconds, positive_seconds
from pipeline.core.plan import render_template
from pipeline.core.selectors import check_label_selector, check_selectors
from pipeline.core.settings import (
    DEFAULT_ALIAS,
    DEFAULT_APP,
    PIN_METHODS,
    ArgoApiSettings,
    BuildSettings,
    DeploySettings,
    KubeSettings,
    RegistrySettings,
    RunSettings,
    ServiceTarget,
    build_targets,
)
from pipeline.errors import UsageError

DEFAULT_FILE = Path("pipeline.yaml")
DOCS = "docs/deploy-canary.md, Configuration"

# keys of a service (top level, or one entry of ``services:``) and what they hold
TARGET_KEYS: dict[str, str] = {
    "image": "str", "tag": "str", "alias": "str", "app": "str", "namespace": "str",
    "selector": "str", "context": "str", "file": "str", "container": "str",
}  # fmt: skip
# run settings read by deploy-canary, cleanup-canary, status and poll
RUN_KEYS: dict[str, str] = {
    "argocd_namespace": "str", "timeout": "number", "pin_method": "str",
    "crashloop_restarts": "int", "settle": "number",
}  # fmt: skip
# sections other commands read: detect-changes (paths) and render (ci), docs/adoption.md
OTHER_COMMANDS_KEYS = frozenset(("paths", "ci"))
KEY_TYPES: dict[str, str] = {
    **TARGET_KEYS, **RUN_KEYS, "services": "list", "paths": "mapping", "ci": "mapping",
}  # fmt: skip
CONFIG_KEYS = frozenset(KEY_TYPES)
SERVICE_KEYS = frozenset((*TARGET_KEYS, "name"))

_TYPE_CHECKS = {
    "str": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "list": lambda v: isinstance(v, list),
    "mapping": lambda v: isinstance(v, Mapping),
}
_TYPE_NAMES = {
    "str": "a string",
    "number": "a number",
    "int": "an integer",
    "list": "a list",
    "mapping": "a mapping",
}


@dataclass(frozen=True)
class ConfigFile:
    """The parsed ``pipeline.yaml`` (keys normalised to ``_``, read-only); ``path`` None: no
    file."""

    path: Path | None = None
    values: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.path) if self.path is not None else "pipeline.yaml"

    def service_names(self) -> tuple[str, ...]:
        names = []
        for item in self.values.get("services") or []:
            name = item if isinstance(item, str) else item.get("name")
            names.append(str(name))
        return tuple(names)


def load_config(path: Path | None, *, required: bool = False) -> ConfigFile:
    """Read ``path`` (else ./pipeline.yaml when it exists) and check every key and type."""
    if path is None:
        if not DEFAULT_FILE.is_file():
            if required:
                raise UsageError(
                    "pipeline.yaml is missing in the current directory",
                    hint="pass --config PATH (or set PIPELINE_CONFIG)",
                )
            return ConfigFile()
        path = DEFAULT_FILE
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UsageError(
            f"cannot read config file {path}: {e.strerror or e}",
            hint="pass --config PATH (or PIPELINE_CONFIG) naming a readable pipeline.yaml",
        ) from None
    from pipeline.core.yamltext import parse_yaml  # YAML only when a file is read (fast --help)

    loaded = parse_yaml(data, str(path), f"fix the YAML syntax of {path}")
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise UsageError(
            f"config file {path} is not a mapping (it holds a {type(loaded).__name__})",
            hint=f"write keys at the top level of {path}, e.g. 'services: [auth]' ({DOCS})",
        )
    values = {str(k).replace("-", "_"): v for k, v in loaded.items()}
    problems = _problems(values)
    if problems:
        raise UsageError(
            f"config file {path}: " + "; ".join(problems),
            hint=f"allowed keys: {', '.join(sorted(CONFIG_KEYS))}; in a services entry: "
            f"{', '.join(sorted(SERVICE_KEYS))} ({DOCS})",
        )
    return ConfigFile(path, MappingProxyType(values))


def _problems(values: Mapping[str, Any]) -> list[str]:
    problems = [f"unknown key {k!r}" for k in sorted(set(values) - CONFIG_KEYS)]
    for key, kind in KEY_TYPES.items():
        value = values.get(key)
        if value is not None and not _TYPE_CHECKS[kind](value):
            problems.append(f"{key!r} must be {_TYPE_NAMES[kind]}, not {value!r}")
    if key_ok(values, "pin_method") and values["pin_method"] not in PIN_METHODS:
        problems.append(f"'pin_method' must be one of {', '.join(PIN_METHODS)}")
    services = values.get("services")
    for item in services if isinstance(services, list) else []:
        if isinstance(item, str):
            continue
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            problems.append(f"services entry {item!r} is neither a name nor a mapping with 'name'")
            continue
        entry = {str(k).replace("-", "_"): v for k, v in item.items()}
        problems += [
            f"unknown key {k!r} in service {item['name']!r}"
            for k in sorted(set(entry) - SERVICE_KEYS)
        ]
        problems += [
            f"{k!r} of service {item['name']!r} must be {_TYPE_NAMES[kind]}, not {entry[k]!r}"
            for k, kind in TARGET_KEYS.items()
            if entry.get(k) is not None and not _TYPE_CHECKS[kind](entry[k])
        ]
    return problems


def key_ok(values: Mapping[str, Any], key: str) -> bool:
    return values.get(key) is not None and _TYPE_CHECKS[KEY_TYPES[key]](values[key])


def _normalised(config: ConfigFile) -> dict[str, Any]:
    """The values as core/settings.py reads them (service entries with ``_`` keys)."""
    values = dict(config.values)
    if isinstance(values.get("services"), list):
        values["services"] = [
            item
            if isinstance(item, str)
            else {str(k).replace("-", "_"): v for k, v in item.items()}
            for item in values["services"]
        ]
    return values


def run_value(name: str, explicit: Mapping[str, Any], config: ConfigFile, default: Any) -> Any:
    """flag / env > pipeline.yaml top level > default, for a run setting."""
    if explicit.get(name) is not None:
        return explicit[name]
    value = config.values.get(name)
    return default if value is None else value


# -- settings shared by the commands that talk to a cluster or a registry --------------------


def kube_settings(params: Mapping[str, Any], typed: Iterable[str] = ()) -> KubeSettings:
    """``typed``: the parameters given on the command line (not through the environment)."""

    def text(name: str) -> str | None:
        value = params.get(name)
        return str(value) if value else None

    argocd = ArgoApiSettings(
        server=text("argocd_server"),
        auth_token=text("auth_token"),
        insecure=bool(params.get("insecure")),
        plaintext=bool(params.get("plaintext")),
        grpc_web_root_path=text("grpc_web_root_path"),
        ca_file=text("argocd_ca"),
        context=text("argocd_context"),
        config_path=text("argocd_config"),
        server_on_command_line="argocd_server" in set(typed),
    )
    return KubeSettings(
        text("kubeconfig"), text("kube_context"), str(params.get("backend") or "auto"), argocd
    )


def registry_settings(params: Mapping[str, Any]) -> RegistrySettings:
    ca = params.get("registry_ca")
    return RegistrySettings(
        ca_bundle=str(ca) if ca else None,
        insecure=tuple(params.get("insecure_registry") or ()),
        rates=tuple(params.get("registry_rps") or ()),
    )


# -- deploy-canary and cleanup-canary ---------------------------------------------------------


def github_defaults(env: Mapping[str, str]) -> dict[str, str]:
    """Revision, PR number, source URL and run id from GitHub Actions' default variables."""
    ref = env.get("GITHUB_REF", "")
    pr = ref.split("/")[2] if ref.startswith("refs/pull/") else ""
    source = ""
    if env.get("GITHUB_REPOSITORY"):
        source = f"{env.get('GITHUB_SERVER_URL', 'https://github.com')}/{env['GITHUB_REPOSITORY']}"
    run_id = ""
    if env.get("GITHUB_RUN_ID"):
        run_id = f"gh-{env['GITHUB_RUN_ID']}-{env.get('GITHUB_RUN_ATTEMPT', '1')}"
    return {"revision": env.get("GITHUB_SHA", ""), "pr": pr, "source": source, "run_id": run_id}


def _build_arg(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"--build-arg {text!r} is not KEY=VALUE", hint="e.g. --build-arg A=1")
    return key, value


def targets(
    services: tuple[str, ...], explicit: Mapping[str, Any], config: ConfigFile
) -> tuple[ServiceTarget, ...]:
    """Every service's target; images may come from the Application's alias."""
    flags = {k: explicit[k] for k in TARGET_KEYS if explicit.get(k) is not None}
    return build_targets(services, flags, _normalised(config), image_from_application=True)


def deploy_settings(
    params: Mapping[str, Any],
    explicit: Mapping[str, Any],
    config: ConfigFile,
    env: Mapping[str, str],
    *,
    started_ns: int | None = None,
) -> DeploySettings:
    """deploy-canary's settings; ``params`` holds every option's value (defaults included)."""
    gh = github_defaults(env)
    run = {k: run_value(k, explicit, config, params[k]) for k in RUN_KEYS}
    if run["pin_method"] not in PIN_METHODS:
        raise UsageError(f"pin_method must be one of {', '.join(PIN_METHODS)}")
    if params["digest"] and not params["no_build"]:
        raise UsageError("--digest needs --no-build", hint="or drop --digest to build")
    settings = DeploySettings(
        services=targets(tuple(params["service"]), explicit, config),
        build=BuildSettings(
            no_build=params["no_build"],
            digest=params["digest"],
            revision=params["revision"] or gh["revision"],
            source=params["source"] or gh["source"],
            pr=params["pr"] or gh["pr"],
            platforms=tuple(params["platform"]),
            cache_from=tuple(params["cache_from"]),
            cache_to=(params["cache_to"],) if params["cache_to"] else (),
            build_args=tuple(_build_arg(a) for a in params["build_arg"]),
        ),
        run=RunSettings(
            argocd_namespace=str(run["argocd_namespace"]),
            timeout=positive_seconds("--timeout", run["timeout"]),
            dry_run=params["dry_run"],
            terminate_running=params["terminate_running"],
            pin_method=str(run["pin_method"]),
            crashloop_restarts=non_negative_count(
                "--crashloop-restarts", run["crashloop_restarts"]
            ),
            settle=non_negative_seconds("--settle", run["settle"]),
            require_render=bool(params.get("require_render")),
            run_id=params["run_id"] or gh["run_id"] or uuid.uuid4().hex[:12],
            started_ns=time.time_ns() if started_ns is None else started_ns,
        ),
    )
    check_selectors(settings)
    return settings


def cleanup_settings(
    params: Mapping[str, Any],
    explicit: Mapping[str, Any],
    config: ConfigFile,
    env: Mapping[str, str],
) -> DeploySettings:
    """cleanup-canary resolves its targets exactly as deploy-canary does."""
    gh = github_defaults(env)
    return DeploySettings(
        services=targets(tuple(params["service"]), explicit, config),
        build=BuildSettings(pr=params["pr"] or gh["pr"]),
        run=RunSettings(
            argocd_namespace=str(run_value("argocd_namespace", explicit, config, "argocd")),
            timeout=positive_seconds(
                "--timeout", run_value("timeout", explicit, config, params["timeout"])
            ),
            run_id="cleanup-" + (params["run_id"] or gh["run_id"] or uuid.uuid4().hex[:12]),
            started_ns=time.time_ns(),
        ),
    )


# -- status, refresh and poll ------------------------------------------------------------------


@dataclass(frozen=True)
class AppTarget:
    """One Application to inspect: its name and, for a service, the canary conventions."""

    app: str  # the Application's name
    argocd_namespace: str
    service: str | None = None  # None: the Application's destination namespace
    alias: str = DEFAULT_ALIAS  # the alias the selector and namespace belong to
    selector: str | None = None  # set explicitly (flag, env, pipeline.yaml); None: conventions
    namespace: str | None = None  # set explicitly; None: the destination namespace


def _set_explicitly(key: str, service: str, explicit: Mapping[str, Any], config: ConfigFile) -> Any:
    """A target key from flag/env > the service's entry > the top level; None when unset."""
    if explicit.get(key) is not None:
        return explicit[key]
    for item in config.values.get("services") or []:
        if isinstance(item, Mapping) and item.get("name") == service and item.get(key) is not None:
            return item[key]
    return config.values.get(key)


def app_targets(
    services: tuple[str, ...], explicit: Mapping[str, Any], config: ConfigFile
) -> tuple[AppTarget, ...]:
    """The Applications of ``services`` (else of every service in pipeline.yaml); with an
    explicit ``app`` and no service, that one Application (its service: the destination
    namespace)."""
    argocd_namespace = str(run_value("argocd_namespace", explicit, config, "argocd"))
    chosen = services or (() if explicit.get("app") else config.service_names())
    if not chosen:
        if explicit.get("app"):
            app = str(explicit["app"])
            if "{" in app:
                raise UsageError(
                    f"--app {app!r} is a template but no service is given",
                    hint="pass --service NAME, or the Application's own name",
                )
            alias = str(explicit.get("alias") or config.values.get("alias") or DEFAULT_ALIAS)
            return (AppTarget(app, argocd_namespace, None, alias, explicit.get("selector")),)
        raise UsageError(
            "no service or Application given",
            hint="pass --service NAME or --app NAME, set PIPELINE_SERVICE, or list services in "
            "pipeline.yaml",
        )
    out = []
    for service in chosen:
        values = {"service": service}
        template = _set_explicitly("app", service, explicit, config) or DEFAULT_APP
        selector = _set_explicitly("selector", service, explicit, config)
        namespace = _set_explicitly("namespace", service, explicit, config)
        alias = _set_explicitly("alias", service, explicit, config) or DEFAULT_ALIAS
        out.append(
            AppTarget(
                app=render_template(str(template), values),
                argocd_namespace=argocd_namespace,
                service=service,
                alias=str(alias),
                selector=check_label_selector(
                    render_template(str(selector), values), f"the selector of service {service!r}"
                )
                if selector
                else None,
                namespace=render_template(str(namespace), values) if namespace else None,
            )
        )
    return tuple(out)

"""``registries.conf``: image-updater's registry list, parsed and checked like the original.

Follows ``registry-scanner/pkg/registry/config.go`` (reference 1.8, test vector 35 from
``config_test.go``): the document is ``registries: [...]`` read with ``yaml.UnmarshalStrict``
(an unknown or duplicate key is an error; ``ratelimit`` is not a key, ``limit`` is), then each
entry is checked by ``ParseRegistryConfiguration``:

- ``registry name is missing for entry ...``; ``API URL must be specified for registry <name>``;
- only one entry may omit ``prefix``: ``there must be only one default registry (already is
  <first>), <second> needs a prefix``;
- ``tagsortmode`` is ``latest-first``, ``latest-last``, ``none`` or empty, any case
  (``TagListSortFromString``; ``unsorted`` is *not* accepted there, whatever the docs say):
  else ``unknown tag sort mode for registry <name>: <mode>``;
- ``LoadRegistryConfiguration``: more than one ``default: true`` is ``cannot set registry
  <prefix> as default - only one default registry allowed, currently set to <prefix>``.

Where the original stops at the first error we report every problem at once (RegistriesConfError
lists them, each with the original's wording). ``credentials`` is checked with the credential
reference grammar (credrefs.py) here rather than at fetch time, and ``credsexpire`` is a Go
duration (``5h``, ``1h30m``), as yaml.v2 decodes ``time.Duration``.

:func:`endpoint_for` is ``GetRegistryEndpoint``: no registry means the default entry, then an
exact prefix, then the longest prefix of ``registry/repo``, else None (the caller infers
``https://<registry>``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from pipeline.core.imageupdater.credrefs import parse_credential_ref
from pipeline.core.imageupdater.imagespec import parse_image_spec
from pipeline.errors import Problem, RegistriesConfError, UsageError

_STR = (
    "name",
    "api_url",
    "prefix",
    "defaultns",
    "credentials",
    "tagsortmode",
    "ca_file",
    "ca_data",
)
_BOOL = ("ping", "insecure", "default")
KEYS = frozenset((*_STR, *_BOOL, "limit", "credsexpire"))
TAG_SORT_MODES = ("latest-first", "latest-last", "none", "")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class RegistryConfig:
    name: str
    api_url: str
    prefix: str = ""
    default: bool = False
    defaultns: str = ""
    credentials: str = ""
    credsexpire: float = 0.0  # seconds; 0 = cached credentials never expire
    insecure: bool = False
    limit: int = 0  # requests per second; 0 = the built-in default
    tagsortmode: str = ""
    ping: bool = False  # parsed, no effect (the /v2/ ping always happens)
    ca_file: str = ""
    ca_data: str = ""


def parse_go_duration(text: str) -> float:
    """Seconds in a Go ``time.ParseDuration`` string such as ``5h`` or ``1h30m``."""
    body = text.strip()
    sign = -1.0 if body.startswith("-") else 1.0
    body = body.lstrip("+-")
    if body == "0":
        return 0.0
    parts = _DURATION_PART.findall(body)
    if not body or "".join(n + u for n, u in parts) != body:
        raise ValueError(f"time: invalid duration {text!r}")
    return sign * sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def _entry(index: int, raw: Any, problems: list[Problem]) -> RegistryConfig | None:
    where = f"registries[{index}]"

    def bad(message: str, fix: str = "") -> None:
        problems.append(Problem("bad-registries-conf", f"{where}{message}", fix))

    if not isinstance(raw, dict):
        bad(" is not a mapping")
        return None
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in KEYS:
            bad(f": field {key} not found in type registry.RegistryConfiguration",
                f"known fields: {', '.join(sorted(KEYS))}")  # fmt: skip
        elif key in _STR and not isinstance(value, str):
            bad(f".{key}: not a string")
        elif key in _BOOL and not isinstance(value, bool):
            bad(f".{key}: not a boolean")
        elif key == "limit" and (isinstance(value, bool) or not isinstance(value, int)):
            bad(".limit: not an integer")
        elif key == "credsexpire":
            try:
                values[key] = parse_go_duration(str(value))
            except ValueError as e:
                bad(f".credsexpire: {e}", "a Go duration such as 5h or 1h30m")
        else:
            values[key] = value
    return RegistryConfig(**{"name": "", "api_url": "", **values})


def _check(entries: list[RegistryConfig], problems: list[Problem]) -> None:
    def bad(message: str, fix: str = "") -> None:
        problems.append(Problem("bad-registries-conf", message, fix))

    no_prefix = default = ""
    for entry in entries:
        if not entry.name:
            bad(f"registry name is missing for entry {entry}", "add 'name:'")
            continue
        if not entry.api_url:
            bad(f"API URL must be specified for registry {entry.name}", "add 'api_url: https://…'")
            continue
        if not entry.prefix:
            if no_prefix:
                bad(
                    f"there must be only one default registry (already is {no_prefix}), "
                    f"{entry.name} needs a prefix",
                    f"add 'prefix: <registry host>' to {entry.name}",
                )
            no_prefix = no_prefix or entry.name
        if entry.tagsortmode.lower() not in TAG_SORT_MODES:
            bad(
                f"unknown tag sort mode for registry {entry.name}: {entry.tagsortmode}",
                "use latest-first, latest-last or none",
            )
        if entry.credentials:
            try:
                parse_credential_ref(entry.credentials)
            except UsageError as e:
                bad(f"credentials of registry {entry.name}: {e.message}", e.hint)
        if entry.default:
            if default:
                bad(
                    f"cannot set registry {entry.prefix} as default - only one default registry "
                    f"allowed, currently set to {default}",
                    "keep 'default: true' on one entry",
                )
            default = default or entry.prefix


def parse_registries_conf(text: str) -> tuple[RegistryConfig, ...]:
    """The registries of a ``registries.conf`` document; RegistriesConfError lists every problem."""
    try:
        doc = yaml.load(text, Loader=_StrictLoader) or {}
    except yaml.YAMLError as e:
        raise RegistriesConfError([Problem("bad-registries-conf", f"not YAML: {e}")]) from None
    problems: list[Problem] = []
    if not isinstance(doc, dict) or set(doc) - {"registries"}:
        unknown = sorted(set(doc) - {"registries"}) if isinstance(doc, dict) else doc
        problems.append(Problem("bad-registries-conf", f"unknown top-level content {unknown}",
                                "the document is 'registries: [...]'"))  # fmt: skip
        raise RegistriesConfError(problems)
    raw = doc.get("registries") or []
    if not isinstance(raw, list):
        raise RegistriesConfError([Problem("bad-registries-conf", "registries is not a list")])
    parsed = [_entry(i, item, problems) for i, item in enumerate(raw)]
    entries = [entry for entry in parsed if entry is not None]
    _check(entries, problems)
    if problems:
        raise RegistriesConfError(problems)
    return tuple(entries)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader refusing duplicate keys, as yaml.v2 ``UnmarshalStrict`` does."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys = [loader.construct_object(k) for k, _ in node.value]
    duplicates = sorted({str(k) for k in keys if keys.count(k) > 1})
    if duplicates:
        raise yaml.constructor.ConstructorError(
            None, None, f"key {duplicates[0]!r} already set in map", node.start_mark
        )
    return dict(loader.construct_pairs(node))


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def endpoint_for(registries: tuple[RegistryConfig, ...], image: str) -> RegistryConfig | None:
    """``GetRegistryEndpoint`` for an image-list image (no registry written: the default)."""
    spec = parse_image_spec(image)
    if not spec.registry:
        return next((r for r in registries if r.default), None)
    exact = next((r for r in registries if r.prefix == spec.registry), None)
    if exact is not None:
        return exact
    matching = [r for r in registries if r.prefix and spec.full_name.startswith(r.prefix)]
    return max(matching, key=lambda r: len(r.prefix)) if matching else None

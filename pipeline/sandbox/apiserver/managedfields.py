"""``metadata.managedFields``: who set which field, recorded on every create, update and patch.

Follows ``k8s.io/apimachinery/pkg/util/managedfields/internal`` and structured-merge-diff's
``merge/update.go``:

- an entry per manager identity (manager, operation, apiVersion -- not for Apply --,
  subresource), ``fieldsType: FieldsV1``, ``time`` of the last change it made; entries sorted
  Apply before Update, then by time, manager, apiVersion (``sortEncodedManagedFields``);
- an Update takes the fields it added or changed from every other manager and keeps them
  (``managedFieldsUpdater``: its time changes only when it took fields); removed fields leave
  every set; empty entries vanish;
- never tracked: ``apiVersion``, ``kind``, ``metadata`` name/namespace/uid/resourceVersion/
  generation/creationTimestamp/selfLink/managedFields (``stripmeta.go``), nor fields the
  endpoint resets (``status`` on the main resource of a kind with a status subresource);
- ``managedFields`` omitted from a PUT keeps the stored ones; ``[]`` or ``[{}]`` resets them
  (``decodeLiveOrNew``); an object with none stays untracked by updates and is tracked again
  from its first apply, whose ``before-first-apply`` entry owns what was there
  (``skipnonapplied.go``);
- conflicts: 409 Conflict, causes of type ``FieldManagerConflict`` naming each field and
  manager, the message ``conflict.go`` builds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.fieldpaths import (
    Path,
    Schema,
    from_fields_v1,
    is_node,
    leaves,
    path_string,
    to_fields_v1,
)
from pipeline.sandbox.apiserver.resources import ResourceType

Obj = dict[str, Any]
APPLY, UPDATE = "Apply", "Update"
_STRIP: frozenset[Path] = frozenset(
    {("f:apiVersion",), ("f:kind",), ("f:metadata",)}
    | {
        ("f:metadata", "f:" + name)
        for name in (
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        )
    }
)


@dataclass(eq=False)
class Entry:
    manager: str
    operation: str
    api_version: str
    subresource: str = ""
    time: str | None = None
    fields: set[Path] = field(default_factory=set)

    @property
    def key(self) -> tuple[str, str, str, str]:
        version = "" if self.operation == APPLY else self.api_version
        return self.manager, self.operation, version, self.subresource

    def to_json(self) -> Obj:
        out: Obj = {"manager": self.manager, "operation": self.operation}
        out["apiVersion"] = self.api_version
        if self.time:
            out["time"] = self.time
        out["fieldsType"] = "FieldsV1"
        out["fieldsV1"] = to_fields_v1(self.fields)
        if self.subresource:
            out["subresource"] = self.subresource
        return out

    def describe(self) -> str:
        """``printManager``: ``"kubectl"``, ``"x" using apps/v1 at <time>``."""
        text = json.dumps(self.manager)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        if self.operation == UPDATE:
            text += f" using {self.api_version}" + (f" at {self.time}" if self.time else "")
        return text


def schema_for(rt: ResourceType) -> Schema:
    return Schema(rt.kind, rt.builtin)


def decode(raw: Any) -> list[Entry] | None:
    """The entries of a ``managedFields`` list, or None when it does not decode."""
    if not isinstance(raw, list):
        return None
    entries = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("manager", ""), str):
            return None
        entries.append(
            Entry(
                str(item.get("manager", "")),
                str(item.get("operation", "")),
                str(item.get("apiVersion", "")),
                str(item.get("subresource", "")),
                item.get("time"),
                from_fields_v1(item.get("fieldsV1")),
            )
        )
    return entries


def encode(entries: list[Entry]) -> list[Obj]:
    ordered = sorted(
        (e for e in entries if e.fields),
        key=lambda e: (e.operation, e.time or "", e.manager, e.api_version, e.subresource),
    )
    return [e.to_json() for e in ordered]


def is_reset(raw: Any) -> bool:
    return isinstance(raw, list) and (raw == [] or raw == [{}])


def tracked(rt: ResourceType, paths: set[Path], subresource: str | None) -> set[Path]:
    """Drop the paths no manager ever owns and those the endpoint resets."""
    out = {p for p in paths if p not in _STRIP}
    if subresource == "status":
        return {p for p in out if p[:1] == ("f:status",)}
    if rt.has_status_subresource or rt.kind in ("Pod", "Namespace"):
        out = {p for p in out if p[:1] != ("f:status",)}
    return out


@dataclass
class Comparison:
    changed: set[Path]  # added or modified
    removed: set[Path]


def compare(schema: Schema, old: Obj, new: Obj) -> Comparison:
    """``TypedValue.Compare`` over member paths (value structs are never members)."""
    before = leaves(schema, _without_managed(old), nodes_for_maps=True)
    after = leaves(schema, _without_managed(new), nodes_for_maps=True)
    changed = {
        p
        for p, value in after.items()
        if p not in before or (not (is_node(value) and is_node(before[p])) and value != before[p])
    }
    return Comparison(changed, set(before) - set(after))


def _without_managed(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    return obj


def take(
    entries: list[Entry], actor: tuple[str, str, str, str], diff: Comparison, force: bool
) -> None:
    """``Updater.update``: others lose what ``diff`` changed (a conflict unless ``force``)
    and what it removed; the actor's own entry is left to the caller."""
    conflicts = {
        n: e.fields & diff.changed
        for n, e in enumerate(entries)
        if e.key != actor and e.fields & diff.changed
    }
    if conflicts and not force:
        raise conflict_error([(entries[n], paths) for n, paths in conflicts.items()])
    for n, entry in enumerate(entries):
        if entry.key != actor:
            entry.fields -= conflicts.get(n, set()) | diff.removed
    entries[:] = [e for e in entries if e.fields or e.key == actor]


def conflict_error(conflicts: list[tuple[Entry, set[Path]]]) -> st.ApiStatusError:
    pairs = sorted(
        ((entry, path) for entry, paths in conflicts for path in paths),
        key=lambda pair: (pair[0].describe(), pair[1]),
    )
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f"conflict with {entry.describe()}",
            "field": path_string(path),
        }
        for entry, path in pairs
    ]
    if len(pairs) == 1:
        entry, path = pairs[0]
        message = f"Apply failed with 1 conflict: conflict with {entry.describe()}: "
        message += path_string(path)
    else:
        lines: list[str] = []
        for entry in dict.fromkeys(entry for entry, _ in pairs):
            lines.append(f"conflicts with {entry.describe()}:")
            lines += [f"- {path_string(p)}" for e, p in pairs if e is entry]
        message = f"Apply failed with {len(pairs)} conflicts: " + "\n".join(lines)
    return st.ApiStatusError(409, "Conflict", message, {"causes": causes})


def record_update(
    rt: ResourceType,
    old: Obj | None,
    new: Obj,
    manager: str,
    subresource: str | None,
    now: str,
) -> list[Obj] | None:
    """The managedFields after an Update by ``manager`` from ``old`` (None: a create) to
    ``new``; None when the object stays untracked."""
    incoming = new.get("metadata", {}).get("managedFields")
    stored = (old or {}).get("metadata", {}).get("managedFields")
    if is_reset(incoming):
        entries: list[Entry] = []
    else:
        entries = decode(incoming) or decode(stored) or []
    if not entries and old is not None:
        return None
    actor = Entry(manager, UPDATE, rt.api_version, subresource or "", now)
    diff = compare(schema_for(rt), old or {}, new)
    diff.changed = tracked(rt, diff.changed, subresource)
    take(entries, ("", "current-operation", "", ""), diff, force=True)
    if diff.changed:
        previous = next((e for e in entries if e.key == actor.key), None)
        if previous is None:
            entries.append(actor)
            previous = actor
        previous.fields |= diff.changed
        previous.time = now
    return encode(entries)

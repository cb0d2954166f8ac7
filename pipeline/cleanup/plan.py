"""Decide, without I/O, what removing our pin from an Application writes.

What a pin wrote (pipeline/core/pin.py): one list entry under the pinned source plus the
annotations ``pipeline.dev/canary-run`` and ``pipeline.dev/canary-digest``:

- ``kustomize.patches``: an entry targeting the canary Deployment whose strategic-merge patch
  sets a container image to ``<repo>@sha256:...``. The pin only *adds* (or replaces its own
  earlier) entry, so removing it restores the original list.
- ``kustomize.images`` (``ORIG=<repo>:<tag>@sha256:...``) and ``helm.parameters``
  (``forceString`` values ending ``@sha256:...``, plus the ``<image-name>`` parameter holding
  the repository when such a tag parameter is there): the pin *replaces* an existing entry of the
  same name (``kustomize edit set image`` semantics, reference C.1). When the Application carries
  ``pipeline.dev/canary-previous`` (JSON ``{"field": ..., "entries": [...]}``: the replaced
  entries), those are put back; without it the entry is removed, which restores the rendering
  of the repository's own files.

Only this canary's pin is touched (issue 13): a patch entry counts as ours only when it
targets one of the canary Deployments (``canaries``, found by the canary selector), so a
stable-alias pin of the same repository stays; only recorded entries of the same key (the
Deployment a patch targets, the image or parameter name) as a removed entry are put back; and
when pins of other aliases remain, the annotations keep describing them (their digests stay
in ``canary-digest`` / the record's ``pinned``).

The write is one JSON merge patch with the resourceVersion read (409: re-read and decide
again). Lists are replaced whole by a merge patch (RFC 7386), so the whole new list is sent; a
list or section that becomes empty is deleted with ``null``, restoring an Application that had
none. The decision is idempotent: an Application without our entries or annotations needs no
write.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import yaml

from pipeline.core.images import ImageRef
from pipeline.core.pin import get_path, source_path
from pipeline.core.plan import (
    DIGEST_ANNOTATION,
    INFO_DIGEST,
    INFO_PR,
    PREVIOUS_ANNOTATION,
    RUN_ANNOTATION,
)
from pipeline.core.previous import (
    digests_in,
    is_ours,
    pinned_digests,
    record_field,
    record_value,
    recorded_entries,
)

PR_ANNOTATION = "pipeline.dev/canary-pr"
OUR_ANNOTATIONS = (RUN_ANNOTATION, DIGEST_ANNOTATION, PREVIOUS_ANNOTATION, PR_ANNOTATION)
FIELDS = (("kustomize", "patches"), ("kustomize", "images"), ("helm", "parameters"))
Obj = dict[str, Any]


@dataclass(frozen=True)
class CleanupWrite:
    """The decided write: entries removed and restored, and the merge patch body."""

    body: Obj
    removed: list[Any] = field(default_factory=list)
    restored: list[Any] = field(default_factory=list)
    digest: str = ""  # the digest that was pinned (from our annotation or our entry)
    deployments: tuple[str, ...] = ()  # Deployments our patch entries targeted


def pinned_by_pr(app: Obj) -> str:
    """The PR that owns the pin: our annotation, else the last operation's info marker when
    it deployed the digest the annotation names. ``""`` when it cannot be told."""
    annotations = app.get("metadata", {}).get("annotations") or {}
    if annotations.get(PR_ANNOTATION):
        return str(annotations[PR_ANNOTATION])
    operation = (app.get("status", {}).get("operationState") or {}).get("operation") or {}
    info = {i.get("name"): i.get("value") for i in operation.get("info") or []}
    digest = annotations.get(DIGEST_ANNOTATION)
    if digest and info.get(INFO_DIGEST) == digest:
        return str(info.get(INFO_PR) or "")
    return ""


def _patch_images(entry: Any) -> list[str]:
    """Container images set by a kustomize patch entry (its ``patch`` is JSON or YAML)."""
    if not isinstance(entry, dict) or (entry.get("target") or {}).get("kind") != "Deployment":
        return []
    try:
        doc = yaml.safe_load(str(entry.get("patch") or ""))
    except yaml.YAMLError:
        return []
    if not isinstance(doc, dict):
        return []
    spec = (((doc.get("spec") or {}).get("template") or {}).get("spec")) or {}
    return [str(c.get("image", "")) for c in spec.get("containers") or [] if isinstance(c, dict)]


def is_our_entry(
    section: str, key: str, entry: Any, repository: ImageRef, tag: str,
    canaries: Collection[str] | None = None,
) -> bool:  # fmt: skip
    """Is this list entry one a pin of ``repository`` wrote (for a patch: of one of the
    ``canaries`` Deployments, when they are known)?"""
    pinned = f"{repository.name}@sha256:"
    tagged = f"{repository.name}:{tag}@sha256:"
    if (section, key) == ("kustomize", "patches"):
        target = (entry.get("target") or {}) if isinstance(entry, dict) else {}
        if canaries is not None and target.get("name") not in canaries:
            return False
        return any(image.startswith(pinned) for image in _patch_images(entry))
    if (section, key) == ("kustomize", "images"):
        _, sep, value = str(entry).partition("=")
        return bool(sep) and value.startswith(tagged)
    if not isinstance(entry, dict) or not entry.get("forceString"):
        return False
    value = str(entry.get("value", ""))
    return value.startswith(tagged) or value.startswith(f"{tag}@sha256:")


def _is_our_name_parameter(entry: Any, repository: ImageRef) -> bool:
    """The ``image.name``-style parameter of a name + tag Helm pin (only counted when the
    same list holds our digest-pinned tag parameter)."""
    return (
        isinstance(entry, dict)
        and bool(entry.get("forceString"))
        and entry.get("value") == repository.name
    )


def entry_key(entry: Any) -> str:
    """What a pin replaces by: a patch's target, a kustomize image's name, a parameter's."""
    if isinstance(entry, dict) and "target" in entry:
        target = entry.get("target") or {}
        return f"patch:{target.get('kind')}/{target.get('name')}"
    if isinstance(entry, dict):
        return f"parameter:{entry.get('name')}"
    text = str(entry)
    if "=" in text:
        return f"image:{text.split('=', 1)[0]}"
    name, colon, tag = text.split("@")[0].rpartition(":")
    return f"image:{name if colon and '/' not in tag else text.split('@')[0]}"


def _restore(entries: list[Any], ours: list[Any], back: list[Any]) -> list[Any]:
    """``entries`` without ours, the recorded ones put back where our first entry was."""
    out: list[Any] = []
    for entry in entries:
        if entry in ours:
            out += [b for b in back if b not in out]
        elif entry not in back:
            out.append(entry)
    return out


def plan_cleanup(
    app: Obj, repository: ImageRef, tag: str, canaries: Collection[str] | None = None
) -> CleanupWrite | None:
    """The write that removes our pin, or None when there is nothing of ours left."""
    annotations = dict(app.get("metadata", {}).get("annotations") or {})
    base = source_path(app)
    source = copy.deepcopy(get_path(app, base) or {})
    removed: list[Any] = []
    restored: list[Any] = []
    deployments: list[str] = []
    changed_sections: set[str] = set()
    for section, key in FIELDS:
        entries = list((source.get(section) or {}).get(key) or [])
        ours = [e for e in entries if is_our_entry(section, key, e, repository, tag, canaries)]
        if not ours:
            continue
        if section == "helm":  # the pin also wrote the repository into <image-name>
            ours += [e for e in entries if _is_our_name_parameter(e, repository) and e not in ours]
        kept = [e for e in entries if e not in ours]
        keys = {entry_key(e) for e in ours}
        back = [
            e
            for e in recorded_entries(annotations, f"{base}.{section}.{key}")
            if e not in kept and entry_key(e) in keys
        ]
        removed += ours
        restored += back
        deployments += [
            str((e.get("target") or {}).get("name"))
            for e in ours
            if isinstance(e, dict) and e.get("target")
        ]
        source.setdefault(section, {})[key] = _restore(entries, ours, back) or None
        changed_sections.add(section)
    present = [a for a in OUR_ANNOTATIONS if a in annotations]
    if not removed and not present:
        return None
    annotated = _annotations_after(annotations, source, removed, restored)
    if not removed and any(v is not None for v in annotated.values()):
        return None  # the annotations describe pins of other aliases: nothing of ours
    meta: Obj = {"resourceVersion": app.get("metadata", {}).get("resourceVersion")}
    if annotated:
        meta["annotations"] = annotated
    body: Obj = {"metadata": meta}
    if changed_sections:
        new_sections: Obj = {}
        for section in sorted(changed_sections):
            remaining = {k: v for k, v in source[section].items() if v is not None}
            new_sections[section] = source[section] if remaining else None
        body["spec"] = _spec_patch(app, base, new_sections)
    digest = annotations.get(DIGEST_ANNOTATION) or _digest_of(removed)
    if removed and digest not in digests_in(removed):
        digest = _digest_of(removed)
    return CleanupWrite(body, removed, restored, digest, tuple(dict.fromkeys(deployments)))


def _annotations_after(
    annotations: dict[str, str], source: Obj, removed: list[Any], restored: list[Any]
) -> Obj:
    """The annotation changes: all of ours deleted, unless pins of ours (other aliases) are
    left: then their digests stay recorded and the run and PR annotations stay theirs."""
    present = [a for a in OUR_ANNOTATIONS if a in annotations]
    gone = digests_in(removed)
    left = [d for d in pinned_digests(annotations) if d not in gone]
    remaining = [
        e
        for section, key in FIELDS
        for e in (source.get(section) or {}).get(key) or []
        if e is not None and is_ours(e, left)
    ]
    if not remaining:
        return {a: None for a in present}
    still = sorted(digests_in(remaining))
    recorded = record_field(annotations)
    entries = [e for e in recorded_entries(annotations, recorded) if e not in restored]
    return {
        DIGEST_ANNOTATION: still[-1] if annotations.get(DIGEST_ANNOTATION) in gone else
        annotations.get(DIGEST_ANNOTATION),
        PREVIOUS_ANNOTATION: record_value(recorded, entries, still) if recorded else None,
    }  # fmt: skip


def _spec_patch(app: Obj, base: str, sections: Obj) -> Obj:
    if base == "spec.source":
        return {"source": sections}
    # multi-source: a merge patch replaces lists, so the whole ``sources`` list is sent
    index = int(base[base.index("[") + 1 : -1])
    sources = copy.deepcopy(app["spec"]["sources"])
    for section, value in sections.items():
        if value is None:
            sources[index].pop(section, None)
        else:
            sources[index][section] = {k: v for k, v in value.items() if v is not None}
    return {"sources": sources}


def _digest_of(entries: list[Any]) -> str:
    for entry in entries:
        text = json.dumps(entry)
        at = text.find("@sha256:")
        if at >= 0:
            return text[at + 1 : at + 8 + 64]
    return ""

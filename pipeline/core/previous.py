"""What a pin replaced, recorded on the Application so cleanup-canary can put it back.

A kustomize-image or helm pin replaces an existing entry of the same name (Argo CD
``KustomizeImages.Merge`` / Helm parameters merged by name, reference 2.1), and a
kustomize-patch pin replaces an earlier patch of the canary Deployment. The pin's merge patch
therefore also sets ``pipeline.dev/canary-previous`` to
``{"field": "<source path>.<section>.<key>", "entries": [<replaced entries>]}`` (same write,
same resourceVersion precondition, so the record can never disagree with the list).

A redeploy replaces our own earlier entry: that is not "previous" (it carries the digest in
``pipeline.dev/canary-digest``), and the first record is kept, so cleanup restores what was
there before the first pin, not an older canary.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pipeline.core.plan import DIGEST_ANNOTATION, PREVIOUS_ANNOTATION


def recorded_entries(annotations: Mapping[str, str], field: str) -> list[Any]:
    """The entries recorded for ``field``; [] when absent, unreadable or for another field."""
    raw = annotations.get(PREVIOUS_ANNOTATION)
    if not raw:
        return []
    try:
        recorded = json.loads(raw)
    except ValueError:
        return []
    if not isinstance(recorded, dict) or recorded.get("field") != field:
        return []
    entries = recorded.get("entries") or []
    return list(entries) if isinstance(entries, list) else []


def _ours(entry: Any, pinned_digest: str | None) -> bool:
    return bool(pinned_digest) and str(pinned_digest) in json.dumps(entry)


def previous_record(
    annotations: Mapping[str, str], field: str, old: list[Any], new: list[Any]
) -> str | None:
    """The annotation value to write with a pin changing ``field`` from ``old`` to ``new``;
    None when the pin replaced nothing and nothing is recorded."""
    pinned = annotations.get(DIGEST_ANNOTATION)
    entries = recorded_entries(annotations, field)
    for entry in old:
        if entry not in new and not _ours(entry, pinned) and entry not in entries:
            entries.append(entry)
    if not entries:
        return None
    return json.dumps({"field": field, "entries": entries}, separators=(",", ":"))

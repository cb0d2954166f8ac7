"""What a pin replaced, recorded on the Application so cleanup-canary can put it back.

A kustomize-image or helm pin replaces an existing entry of the same name (Argo CD
``KustomizeImages.Merge`` / Helm parameters merged by name, reference 2.1), and a
kustomize-patch pin replaces an earlier patch of the canary Deployment. The pin's merge patch
therefore also sets ``pipeline.dev/canary-previous`` to
``{"field": "<source path>.<section>.<key>", "entries": [<replaced entries>]}`` (same write,
same resourceVersion precondition, so the record can never disagree with the list).

A redeploy replaces our own earlier entry: that is not "previous", and the first record is
kept, so cleanup restores what was there before the first pin, not an older canary. An entry
is "ours" when it holds a digest some pin of this Application wrote: the one in
``pipeline.dev/canary-digest`` (the last pin's) or one of the record's ``pinned`` digests. The
record keeps every digest pinned since the first pin that another pin followed, because pins
of other aliases (a stable-alias deploy) overwrite ``canary-digest`` in between: without the
list, the canary's own earlier entry would be taken for what the canary replaced, and cleanup
would put an old PR image back (issue 13).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pipeline.core.plan import DIGEST_ANNOTATION, PREVIOUS_ANNOTATION

_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")


def _record(annotations: Mapping[str, str]) -> dict[str, Any]:
    raw = annotations.get(PREVIOUS_ANNOTATION)
    if not raw:
        return {}
    try:
        recorded = json.loads(raw)
    except ValueError:
        return {}
    return recorded if isinstance(recorded, dict) else {}


def record_field(annotations: Mapping[str, str]) -> str:
    """The field the record is about; "" without a record."""
    return str(_record(annotations).get("field") or "")


def recorded_entries(annotations: Mapping[str, str], field: str) -> list[Any]:
    """The entries recorded for ``field``; [] when absent, unreadable or for another field."""
    recorded = _record(annotations)
    if recorded.get("field") != field:
        return []
    entries = recorded.get("entries") or []
    return list(entries) if isinstance(entries, list) else []


def pinned_digests(annotations: Mapping[str, str]) -> list[str]:
    """Every digest a pin of this Application wrote and no cleanup removed yet."""
    listed = _record(annotations).get("pinned") or []
    digests = [str(d) for d in listed if isinstance(d, str)] if isinstance(listed, list) else []
    last = annotations.get(DIGEST_ANNOTATION)
    return list(dict.fromkeys([*digests, *([last] if last else [])]))


def digests_in(entries: Iterable[Any]) -> set[str]:
    return {d for entry in entries for d in _DIGEST.findall(json.dumps(entry))}


def is_ours(entry: Any, pinned: Iterable[str]) -> bool:
    return bool(digests_in([entry]) & set(pinned))


def record_value(field: str, entries: list[Any], pinned: list[str]) -> str | None:
    """The annotation's value; None when there is nothing to remember. One pinned digest is
    in ``canary-digest`` already: ``pinned`` is written from two on."""
    if not entries and len(pinned) < 2:
        return None
    record: dict[str, Any] = {"field": field, "entries": entries}
    if len(pinned) >= 2:
        record["pinned"] = pinned
    return json.dumps(record, separators=(",", ":"))


def previous_record(
    annotations: Mapping[str, str], field: str, old: list[Any], new: list[Any]
) -> str | None:
    """The annotation value to write with a pin changing ``field`` from ``old`` to ``new``;
    None when the pin replaced nothing and only its own digest is pinned."""
    pinned = pinned_digests(annotations)
    entries = recorded_entries(annotations, field)
    for entry in old:
        if entry not in new and not is_ours(entry, pinned) and entry not in entries:
            entries.append(entry)
    added = sorted(digests_in(e for e in new if e not in old))
    gone = digests_in(old) - digests_in(new)  # replaced in this list: forget them
    pinned = [d for d in dict.fromkeys([*pinned, *added]) if d not in gone]
    return record_value(field, entries, pinned)

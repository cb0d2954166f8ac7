"""Write bench_deploy.py's results into docs/performance.md (between markers) with a plot.

The plot is a PNG made with matplotlib when it is installed (it is a benchmark-only dependency),
else an ASCII bar chart inside the Markdown.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

START, END = "<!-- bench_deploy:start -->", "<!-- bench_deploy:end -->"
PLOT = "img/bench-deploy.png"
PHASES = (
    ("build_and_push", "build + push"),
    ("overhead_without_argocd", "pipeline"),
    ("argocd_sync_to_template", "Argo CD sync"),
    ("container_start", "container start"),
)


def _plot(results: dict[str, Any], docs: Path) -> str:
    rows = [(f"round {i + 1}", r) for i, r in enumerate(results["single"])]
    rows.append(("3 replicas", results["replicas_3"]))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return _ascii(rows)
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 1.5))
    left = [0.0] * len(rows)
    for key, label in PHASES:
        values = [max(0.0, float(r[key])) for _, r in rows]
        ax.barh([name for name, _ in rows], values, left=left, label=label)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_xlabel("seconds from `pipeline deploy-canary` start to exit")
    ax.invert_yaxis()
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=len(PHASES), fontsize="small")
    fig.tight_layout()
    (docs / PLOT).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(docs / PLOT, dpi=100)
    plt.close(fig)
    return f"![deploy-canary time by phase]({PLOT})"


def _ascii(rows: list[tuple[str, dict[str, Any]]]) -> str:
    marks = "#=~."
    lines = ["```", "  ".join(f"{m} {label}" for m, (_, label) in zip(marks, PHASES, strict=True))]
    for name, r in rows:
        bar = "".join(
            m * round(max(0.0, float(r[k])) * 10) for m, (k, _) in zip(marks, PHASES, strict=True)
        )
        lines.append(f"{name:>11} |{bar} {r['wall']:.1f}s")
    return "\n".join([*lines, "```"])


def _row(name: str, r: dict[str, Any]) -> str:
    reg = ", ".join(f"{k} {v}" for k, v in r["requests"]["registry"].items()) or "none"
    kube = ", ".join(f"{k} {v}" for k, v in r["requests"]["kubernetes"].items())
    return (
        f"| {name} | {r['wall']:.2f} | {r['build_and_push']:.2f} | {r['container_start']:.2f} | "
        f"{r['overhead']:.2f} | {r['overhead_without_argocd']:.2f} | "
        f"{r['push_done_to_sync_requested']} | {r['last_pod_ready_to_exit']} | {reg} | {kube} |"
    )


def section(results: dict[str, Any], plot: str) -> str:
    scale, fail = results["scale"], results["failures"]
    lines = [
        START,
        f"Measured {datetime.date.today().isoformat()} on {results['machine']['cpus']} CPUs "
        f"(Python {results['machine']['python']}) by `benchmarks/bench_deploy.py --write-docs`.",
        "",
        plot,
        "",
        "| Run | Wall s | Build+push s | Container start s | Overhead s | Overhead w/o Argo CD s "
        "| Push done -> sync requested s | Last pod ready -> exit s | Registry requests "
        "| Kubernetes requests |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *[_row(f"1 service, round {i + 1}", r) for i, r in enumerate(results["single"])],
        _row("1 service, 3 replicas", results["replicas_3"]),
        "",
        "| Services at once (`--no-build`) | Wall s | Start -> last sync requested s "
        "| Rollouts (first template update -> last pod ready) s | Overhead s "
        "| Last pod ready -> exit s | Requests |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in ("one", "many"):
        s = scale[key]
        reqs = ", ".join(
            f"{k} {v}"
            for part in ("registry", "kubernetes")
            for k, v in s["requests"][part].items()
        )
        lines.append(
            f"| {s['services']} | {s['wall']:.2f} | {s['start_to_last_sync_requested']:.2f} | "
            f"{s['rollouts']:.2f} | {s['overhead']:.2f} | {s['last_pod_ready_to_exit']:.2f} "
            f"| {reqs} |"
        )
    lines += [
        "",
        "| Failure | Exit code | Reason | Kubelet report -> exit s |",
        "|---|---|---|---|",
        *[
            f"| {name} | {f['exit_code']} | {f['reason']} | {f['kubelet_failure_to_exit']:.2f} |"
            for name, f in (
                ("crashing image", fail["crash_loop"]),
                ("image deleted", fail["image_pull"]),
            )
        ],
        "",
        *goals(results),
        END,
    ]
    return "\n".join(lines)


def goals(results: dict[str, Any]) -> list[str]:
    """The issue's goals, each with what was measured and whether it is met."""
    single, fail = results["single"], results["failures"]
    overhead = results["single_median"]["overhead"]
    reports = [f["kubelet_failure_to_exit"] for f in fail.values()]
    runs = [*single, results["replicas_3"], *results["scale"].values()]
    gets = sum(r["requests"]["registry"].get("GET manifest", 0) for r in runs)
    counts = {json.dumps(r["requests"], sort_keys=True) for r in [*single, results["replicas_3"]]}
    rows = [
        ("pipeline overhead < 1 s (median, 1 service)", f"{overhead:.2f} s", overhead < 1),
        ("failure reported < 2 s after the kubelet", f"max {max(reports):.2f} s", max(reports) < 2),
        ("zero GET-manifest requests", f"{gets} in {len(runs)} runs", gets == 0),
        ("requests independent of rollout length (1 vs 3 replicas)",
         "identical" if len(counts) == 1 else "differ", len(counts) == 1),
    ]  # fmt: skip
    return [
        "| Goal | Measured | Met |",
        "|---|---|---|",
        *[f"| {goal} | {value} | {'yes' if ok else 'NO'} |" for goal, value, ok in rows],
    ]


def write_docs(results: dict[str, Any], docs: Path) -> None:
    path = docs / "performance.md"
    text = (
        path.read_text()
        if path.exists()
        else "# Performance\n\n## deploy-canary\n\n" + START + "\n" + END + "\n"
    )
    if START not in text:
        text += f"\n## deploy-canary\n\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(head + section(results, _plot(results, docs)) + tail)

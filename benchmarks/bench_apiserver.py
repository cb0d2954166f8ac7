"""Benchmark the sandbox API server; prints one JSON document.

- write-to-watch delivery: an open watch on configmaps, then N sequential merge patches; for
  each, the time from sending the PATCH until its MODIFIED event is read from the stream.
- list and watch cost with 1,000 pods: create time, list time and bytes (JSON and Table), and
  the time until a watch from resourceVersion unset has delivered all synthetic ADDED events.
- durable writes: a second server with a state file (journal fsynced before each answer):
  sequential create round trips, and creates from 8 concurrent clients (fsyncs are shared).

Usage: .venv/bin/python benchmarks/bench_apiserver.py [--writes 300] [--pods 1000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from pipeline.sandbox.apiserver import APIServer

CM = "/api/v1/namespaces/default/configmaps"
PODS = "/api/v1/namespaces/default/pods"
MERGE = {"Content-Type": "application/merge-patch+json"}


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * pct / 100), len(ordered) - 1)]


def watch_delivery(url: str, writes: int) -> dict[str, Any]:
    session = requests.Session()
    session.post(url + CM, json={"metadata": {"name": "bench"}}, timeout=10)
    rv = session.get(url + CM, timeout=10).json()["metadata"]["resourceVersion"]
    params = {"watch": "true", "resourceVersion": rv, "timeoutSeconds": "300"}
    latencies, round_trips = [], []
    with requests.get(url + CM, params=params, stream=True, timeout=300) as stream:
        lines = stream.iter_lines()
        for n in range(writes):
            body = json.dumps({"data": {"n": str(n)}})
            start = time.perf_counter()
            session.patch(url + CM + "/bench", data=body, headers=MERGE, timeout=10)
            round_trips.append(time.perf_counter() - start)
            event = json.loads(next(line for line in lines if line))
            latencies.append(time.perf_counter() - start)
            assert event["object"]["data"]["n"] == str(n)
    ms = [v * 1000 for v in latencies]
    return {
        "writes": writes,
        "write_to_event_ms_p50": round(statistics.median(ms), 3),
        "write_to_event_ms_p99": round(_percentile(ms, 99), 3),
        "patch_round_trip_ms_p50": round(statistics.median(round_trips) * 1000, 3),
    }


def list_and_watch(url: str, pods: int) -> dict[str, Any]:
    session = requests.Session()
    start = time.perf_counter()
    for n in range(pods):
        pod = {
            "metadata": {"name": f"pod-{n:04d}", "labels": {"app": "bench", "n": str(n)}},
            "spec": {"containers": [{"name": "app", "image": "reg/app:1"}]},
        }
        session.post(url + PODS, json=pod, timeout=10)
    create_s = time.perf_counter() - start

    start = time.perf_counter()
    listing = session.get(url + PODS, timeout=60)
    list_s = time.perf_counter() - start
    assert len(listing.json()["items"]) == pods

    table_accept = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}
    start = time.perf_counter()
    table = session.get(url + PODS, headers=table_accept, timeout=60)
    table_s = time.perf_counter() - start

    start = time.perf_counter()
    seen = 0
    params = {"watch": "true", "timeoutSeconds": "120"}
    with requests.get(url + PODS, params=params, stream=True, timeout=120) as stream:
        for line in stream.iter_lines():
            if line:
                seen += 1
                if seen == pods:
                    break
    watch_s = time.perf_counter() - start
    return {
        "pods": pods,
        "create_per_second": round(pods / create_s, 1),
        "list_ms": round(list_s * 1000, 1),
        "list_bytes": len(listing.content),
        "table_list_ms": round(table_s * 1000, 1),
        "table_list_bytes": len(table.content),
        "watch_initial_added_ms": round(watch_s * 1000, 1),
    }


def durable_writes(writes: int, clients: int = 8) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        server = APIServer(state_file=Path(tmp) / "store.json")
        server.start()
        try:
            session = requests.Session()
            round_trips = []
            for n in range(writes):
                start = time.perf_counter()
                session.post(server.url + CM, json={"metadata": {"name": f"d-{n}"}}, timeout=10)
                round_trips.append(time.perf_counter() - start)

            def client(c: int) -> None:
                own = requests.Session()
                for n in range(writes // clients):
                    body = {"metadata": {"name": f"c{c}-{n}"}}
                    own.post(server.url + CM, json=body, timeout=10).raise_for_status()

            threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
            start = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            concurrent_s = time.perf_counter() - start
            snapshotter = server._snapshotter
            syncs = snapshotter.journal.syncs if snapshotter is not None else 0
        finally:
            server.stop()
    ms = [v * 1000 for v in round_trips]
    return {
        "writes": writes,
        "create_round_trip_ms_p50": round(statistics.median(ms), 3),
        "create_round_trip_ms_p99": round(_percentile(ms, 99), 3),
        "concurrent_clients": clients,
        "concurrent_creates_per_second": round(writes // clients * clients / concurrent_s, 1),
        "fsyncs_for_all_writes": syncs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--pods", type=int, default=1000)
    args = parser.parse_args()
    server = APIServer()
    server.start()
    try:
        result = {
            "watch_delivery": watch_delivery(server.url, args.writes),
            "list_and_watch": list_and_watch(server.url, args.pods),
        }
    finally:
        server.stop()
    result["durable_writes"] = durable_writes(args.writes)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""An acknowledged write survives ``kill -9`` of the API server (journal fsynced before the
answer), and the journal is compacted into the snapshot."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from pipeline.sandbox.apiserver import APIServer
from pipeline.sandbox.apiserver.persistence import Snapshotter

CM = "/api/v1/namespaces/default/configmaps"
_SERVE = """
import sys, threading
from pathlib import Path
from pipeline.sandbox.apiserver import APIServer
srv = APIServer(state_file=Path(sys.argv[1]), compact_interval=float(sys.argv[2]))
srv.start()
print(srv.url, flush=True)
threading.Event().wait()
"""
TRIES = 4
WRITERS = 4


def _serve(state: Path, compact_interval: float = 5.0) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVE, str(state), str(compact_interval)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()  # blocks until the server listens (or exits)
    assert url.startswith("http://"), f"server did not start (exit {proc.poll()})"
    return proc, url


def _writer(url: str, prefix: str, acked: list[str], stop: threading.Event) -> None:
    session = requests.Session()
    n = 0
    while not stop.is_set() and n < 2000:  # bounded even if the kill never came
        name = f"{prefix}-{n}"
        try:
            response = session.post(
                url + CM, json={"metadata": {"name": name}, "data": {"n": str(n)}}, timeout=5
            )
        except requests.RequestException:
            return  # the server died mid-request: not acknowledged
        if response.status_code == 201:
            acked.append(name)
        n += 1


def test_every_acknowledged_write_survives_kill_9(tmp_path: Path) -> None:
    state = tmp_path / "store.json"
    acked: list[str] = []
    for attempt in range(TRIES):
        # every other try compacts constantly, so the kill also lands mid-compaction
        proc, url = _serve(state, compact_interval=0.02 if attempt % 2 else 5.0)
        try:
            stop = threading.Event()
            before = len(acked)
            threads = [
                threading.Thread(
                    target=_writer, args=(url, f"t{attempt}w{w}", acked, stop), daemon=True
                )
                for w in range(WRITERS)
            ]
            for thread in threads:
                thread.start()
            # kill once some writes were acknowledged, while the writers are still going
            deadline_hit = not _wait_for_count(acked, before + 50 + 25 * attempt)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            stop.set()
            for thread in threads:
                thread.join(10)
            assert not deadline_hit, "writes were too slow to be acknowledged"
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    proc, url = _serve(state)
    try:
        names = {
            item["metadata"]["name"] for item in requests.get(url + CM, timeout=10).json()["items"]
        }
        lost = [name for name in acked if name not in names]
        assert not lost, f"{len(lost)} of {len(acked)} acknowledged writes lost: {lost[:5]}"
        print(f"kill -9 x{TRIES}: {len(acked)} acknowledged writes, {len(lost)} lost")
    finally:
        proc.kill()
        proc.wait(10)


def _wait_for_count(acked: list[str], count: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(acked) >= count:
            return True
        time.sleep(0.005)  # the pause between two probes, not a synchronisation
    return False


def test_compaction_folds_the_journal_into_the_snapshot(tmp_path: Path) -> None:
    state = tmp_path / "store.json"
    with APIServer(state_file=state) as srv:
        requests.post(srv.url + CM, json={"metadata": {"name": "a"}}, timeout=5).raise_for_status()
        snapshotter = srv._snapshotter
        assert isinstance(snapshotter, Snapshotter)
        journal = snapshotter.journal
        assert any(b'"name":"a"' in p.read_bytes() for p in journal.segments())
        snapshotter.save()
        assert [p.read_bytes() for p in journal.segments()] == [b""]
        saved = json.loads(state.read_text())
        assert "a" in {o["metadata"]["name"] for o in saved["objects"]}
        requests.delete(srv.url + CM + "/a", timeout=5).raise_for_status()
    assert not list(tmp_path.glob("store.json.journal.*"))
    with APIServer(state_file=state) as srv:
        assert requests.get(srv.url + CM + "/a", timeout=5).status_code == 404


def test_a_torn_last_record_is_ignored(tmp_path: Path) -> None:
    state = tmp_path / "store.json"
    segment = tmp_path / "store.json.journal.1"
    record = {
        "seq": 1,
        "rv": 1,
        "type": "ADDED",
        "object": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "kept", "namespace": "default", "resourceVersion": "1"},
        },
    }
    segment.write_bytes(json.dumps(record).encode() + b'\n{"seq":2,"rv":2,"type":"ADD')
    with APIServer(state_file=state) as srv:
        kept = requests.get(srv.url + CM + "/kept", timeout=5)
        assert kept.status_code == 200
        assert int(kept.json()["metadata"]["resourceVersion"]) == 1


def test_a_crd_its_objects_and_pod_logs_survive_kill_9_from_the_journal(tmp_path: Path) -> None:
    """Replay order: the CRD's kind is served before its objects are loaded; a pod's log too."""
    from tests.sandbox.test_apiserver_kinds import crd, rule

    state = tmp_path / "store.json"
    proc, url = _serve(state, compact_interval=3600)  # the journal alone carries the writes
    rules = url + "/apis/networking.istio.io/v1/namespaces/default/destinationrules"
    pods = url + "/api/v1/namespaces/default/pods"
    try:
        crds = url + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        requests.post(crds, json=crd(), timeout=5).raise_for_status()
        created = requests.post(rules, json=rule("web"), timeout=5)
        assert created.status_code == 201, created.text
        pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "app", "image": "x"}]}}
        requests.post(pods, json=pod, timeout=5).raise_for_status()
        log_url = url + "/sandbox/v1/namespaces/default/pods/p/log?container=app"
        requests.post(log_url, data=b"hello\n", timeout=5).raise_for_status()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert not state.exists(), "no compaction ran: the journal alone must carry the writes"
    proc, url = _serve(state)
    try:
        got = requests.get(
            url + "/apis/networking.istio.io/v1/namespaces/default/destinationrules/web",
            timeout=5,
        )
        assert got.status_code == 200, got.text
        assert got.json()["spec"]["host"] == "web"
        log = requests.get(url + "/api/v1/namespaces/default/pods/p/log", timeout=5)
        assert log.text == "hello\n"
    finally:
        proc.kill()
        proc.wait(10)

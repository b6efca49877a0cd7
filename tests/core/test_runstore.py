"""The run directory's commit protocol: what a kill leaves behind is cleaned up on resume."""

from __future__ import annotations

import json

from soar_kit.runstore import RunStore, atomic_write_text


def test_truncate_metrics_drops_uncommitted_and_torn_lines(tmp_path):
    store = RunStore(tmp_path)
    for step in range(3):
        store.append_metrics({"step": step, "x": step})
    store.append_metrics({"step": 1, "x": "duplicate from a killed re-run"})
    with store.metrics_path.open("a") as fh:
        fh.write('{"step": 3, "x"')  # torn by a kill mid-write
    store.truncate_metrics(committed_steps=2)
    rows = store.metrics()
    assert [r["step"] for r in rows] == [0, 1]
    assert rows[1]["x"] == "duplicate from a killed re-run"  # the last write of a step wins


def test_atomic_write_leaves_no_temp_files(tmp_path):
    target = tmp_path / "a" / "state.json"
    atomic_write_text(target, json.dumps({"step": 1}))
    atomic_write_text(target, json.dumps({"step": 2}))
    assert json.loads(target.read_text()) == {"step": 2}
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]


def test_checkpoint_publish_and_prune(tmp_path):
    store = RunStore(tmp_path)
    for name in ("teacher-1", "teacher-2", "baseline-1"):
        staging = store.staging_dir(name)
        (staging / "w").write_text(name)
        store.publish(staging, name)
    store.staging_dir("teacher-3")  # a kill left a half-written checkpoint behind
    store.prune_checkpoints(["teacher-2", "baseline-1"])
    assert sorted(p.name for p in store.checkpoints.iterdir()) == ["baseline-1", "teacher-2"]

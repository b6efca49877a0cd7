"""The PQ export is readable by Hugging Face `datasets`, as the docs promise."""

from __future__ import annotations

import pytest

from soar_kit.contracts.records import Problem
from soar_kit.runstore import write_jsonl


def test_pq_jsonl_loads_with_datasets(tmp_path):
    datasets = pytest.importorskip("datasets", reason="datasets is part of the trl/dev extras")
    rows = [
        {
            **Problem(
                id=f"s0-{i}",
                question=f"{i}+1=?",
                answer=str(i + 1),
                domain="math",
                data={"level": 2},
            ).model_dump(mode="json"),
            "step": 0,
            "reward": 0.125,
        }
        for i in range(3)
    ]
    path = tmp_path / "pq.jsonl"
    write_jsonl(path, rows)
    ds = datasets.load_dataset(
        "json", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache")
    )
    assert ds.num_rows == 3
    assert ds[1]["question"] == "1+1=?" and ds[1]["reward"] == 0.125

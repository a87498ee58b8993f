"""notebooks/segments.ipynb runs from top to bottom against a real Redis, so it cannot rot."""

from __future__ import annotations

import uuid
from pathlib import Path

import nbformat
import redis
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "segments.ipynb"


def test_segments_notebook_retrains_inspects_and_publishes(tmp_path, redis_url, monkeypatch):
    namespace = f"nb{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("PZ_REDIS_URL", redis_url)  # the kernel inherits the environment
    monkeypatch.setenv("PZ_PSEUDONYM_KEY", "notebook-test-key-" + "x" * 32)
    monkeypatch.setenv("SEGMENTS_NOTEBOOK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("SEGMENTS_NOTEBOOK_NAMESPACE", namespace)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = redis.Redis.from_url(redis_url)
    try:
        NotebookClient(
            notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
        ).execute()  # raises CellExecutionError, with the cell and its traceback, on any error
        assert client.get(f"{namespace}:seg:active")  # published and activated
    finally:
        for key in client.scan_iter(match=f"{namespace}:*"):
            client.unlink(key)
    outputs = [out for cell in notebook.cells for out in cell.get("outputs", [])]
    assert sum("image/png" in out.get("data", {}) for out in outputs) == 2  # both plots drawn
    assert not nbformat.read(NOTEBOOK, as_version=4).cells[1].get("outputs")  # stored clean

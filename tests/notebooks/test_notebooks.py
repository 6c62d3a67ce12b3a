"""Every notebook in notebooks/ executes without error and draws at least one chart.

How they run: nbclient with the ``python3`` kernel, which jupyter_client starts with the interpreter running the
tests (the venv's), so the notebooks import the same editable cspkit. The working directory is the ``notebooks/``
folder (notebooks find ``sample_data/`` as ``../sample_data`` from there, or from the repository root when a user
opens them there). No network: the notebooks read sample_data/ only. ``CSPKIT_HOME`` points to a temporary folder
so nothing touches the user's data directory. Outputs are not written back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
SHARED = NOTEBOOKS.parent / ".." / "shared"
NEEDS_SHARED = {"azure_usage.ipynb": SHARED / "realdata" / "daily-rated-usage-2025-11-subset.csv"}


def test_there_are_notebooks() -> None:
    assert "price_list_analysis.ipynb" in [p.name for p in PATHS]
    assert "azure_usage.ipynb" in [p.name for p in PATHS]


@pytest.mark.notebook
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs_and_draws_a_chart(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    needed = NEEDS_SHARED.get(path.name)
    if needed is not None and not needed.exists():
        pytest.skip(f"{path.name} reads the real file {needed} (../shared beside the repository is absent)")
    monkeypatch.setenv("CSPKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=120,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
        allow_errors=False,
    )
    client.execute()  # raises CellExecutionError naming the cell when any cell fails
    images = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert images, f"{path.name} produced no chart (no image/png output)"

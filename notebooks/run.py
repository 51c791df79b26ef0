"""Executes the notebooks against a warehouse (CI does this on the demo warehouse).

    python notebooks/run.py WAREHOUSE [OUT_DIR]

A failing cell fails the run. Executed copies (with outputs and figures) go to OUT_DIR for people
to look at; the committed notebooks stay without outputs.
"""

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

HERE = Path(__file__).resolve().parent
NOTEBOOKS = ["quarterly_review.ipynb", "account_drilldown.ipynb"]


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    os.environ["GOVMEDIA_WAREHOUSE"] = str(Path(sys.argv[1]).resolve())
    out = Path(sys.argv[2] if len(sys.argv) > 2 else HERE.parent / "target" / "notebooks").resolve()
    out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for name in NOTEBOOKS:
        nb = nbformat.read(HERE / name, as_version=4)
        client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(HERE)}})
        try:
            client.execute()
            print(f"ok   {name}")
        except CellExecutionError as e:
            failed += 1
            print(f"FAIL {name}: {e}")
        nbformat.write(nb, out / name)
        images = sum(1 for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {}))
        print(f"     {images} figures; executed copy: {out / name}")
    print(f"{len(NOTEBOOKS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

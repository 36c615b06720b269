"""The benchmark entry point runs, and its merge baseline gives bigocr's boxes."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_entry_point_quick(tmp_path):
    out = tmp_path / "bench.json"
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--only", "merge,plans",
                          "--reference-sample", "40", "--json", str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "## merge" in run.stdout and "## plans" in run.stdout
    figures = json.loads(out.read_text())
    merge = figures["merge"]
    assert merge["words_found"] == merge["words_drawn"] > 500
    # The baseline is the reference's loop over the same stitched maps: same boxes for the sampled components.
    assert merge["sample_words"] >= 35 and merge["sample_words_identical"] == merge["sample_words"]
    assert merge["reference_extrapolated"] and merge["speedup"] > 0  # how much faster is a benchmark figure, not a test
    plans = figures["plans"]
    assert plans["thirds"]["count"] == 105 and plans["thirds"]["leaves"] == 243
    assert plans["grid"]["pixels"] < plans["thirds"]["pixels"]

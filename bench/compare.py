"""Side-by-side comparison of fastnn with its peers, in one run (issue 4).

    python bench/compare.py [--quick] [--peers fastnn,numpy,torch,sklearn,jax]
                            [--workloads W1,W4] [--rounds N] [--out bench/results]
    python -m bench.compare ...      (from the repository root)
    fastnn bench ...                 (the same from an installed package; writes to ./fastnn-bench)

Writes compare.md, compare.json and compare.png (compare-quick.* with
--quick) to bench/results/.  The benchmark itself lives in
``fastnn/benchmark.py`` (the implementations in ``fastnn/_benchmark_peers.py``
and ``_benchmark_fastnn.py``) so that ``fastnn bench`` works without this folder;
``pip install -e ".[bench]"`` installs the peers (PyTorch, JAX; scikit-learn and NumPy
come with fastnn).

No asv benchmark here: asv imports this module and finds nothing to time.
"""
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

if __name__ == "__main__":
    from fastnn import benchmark

    sys.exit(benchmark.main(default_out=str(RESULTS)))

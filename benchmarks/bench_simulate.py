"""Benchmark: replicate BEAT-LUPUS trials simulated end to end (model included) into ADaM frames.

Issue 4 target: 1,000 trials of 52 patients in under 30 s on 2 cores.
Run: python benchmarks/bench_simulate.py [--trials 1000] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import time

from lupustrial.protocol import load_protocol
from lupustrial.simulate import run_trials


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=50)
    args = parser.parse_args()
    protocol = load_protocol("beat-lupus")
    run_trials(protocol, 2, seed=0)  # warm-up: imports and first compilation of numpy paths
    for workers in sorted({1, args.workers}):
        start = time.perf_counter()
        frames = run_trials(protocol, args.trials, seed=1, chunk=args.chunk, workers=workers)
        elapsed = time.perf_counter() - start
        rows = {k: len(v) for k, v in frames.items()}
        print(f"trials={args.trials} workers={workers} chunk={args.chunk} cores={os.cpu_count()}: "
              f"{elapsed:.1f} s ({1000 * elapsed / args.trials:.1f} ms/trial) rows={rows}")


if __name__ == "__main__":
    main()

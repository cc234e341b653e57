"""Benchmark: replicate BEAT-LUPUS trials simulated end to end (model included) into ADaM frames.

Issue 4 target: 1,000 trials of 52 patients in under 30 s on 2 cores. Issue 15 target: the
clinical course (ADQS, ADRS and recurrent flares) adds less than 50% to that, side by side in one
process: the same trials with ``SimulationSettings(clinical=None)`` (labs, flares and AEs only)
and with the clinical course, each simulated into memory (``run_trials``) and into Parquet files
as ``lupustrial simulate`` does (``write_trials``: chunk by chunk, no dataset held whole).
Run: python benchmarks/bench_simulate.py [--trials 1000] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from lupustrial.protocol import load_protocol
from lupustrial.simulate import SimulationSettings, run_trials, write_trials


def _run(protocol, settings: SimulationSettings, args: argparse.Namespace, workers: int) -> tuple[float, float, dict]:
    start = time.perf_counter()
    frames = run_trials(protocol, args.trials, seed=1, chunk=args.chunk, workers=workers, settings=settings,
                        compact=True)
    simulated = time.perf_counter() - start
    rows = {k: len(v) for k, v in frames.items()}
    del frames
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        write_trials(protocol, args.trials, 1, out, "parquet", chunk=args.chunk, workers=workers, settings=settings)
        written = time.perf_counter() - start
    return simulated, written, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=50)
    args = parser.parse_args()
    protocol = load_protocol("beat-lupus")
    run_trials(protocol, 2, seed=0)  # warm-up: imports and first compilation of numpy paths
    for workers in sorted({1, args.workers}):
        times = {}
        for label, settings in (("without clinical course", SimulationSettings(clinical=None)),
                                ("with clinical course", SimulationSettings())):
            simulated, written, rows = _run(protocol, settings, args, workers)
            times[label] = (simulated, written)
            print(f"trials={args.trials} workers={workers} chunk={args.chunk} cores={os.cpu_count()} {label}: "
                  f"in memory {simulated:.1f} s, to Parquet files {written:.1f} s ({1000 * written / args.trials:.1f} "
                  f"ms/trial) rows={rows}")
        (s0, w0), (s1, w1) = times.values()
        print(f"  the clinical course adds {100 * (s1 / s0 - 1):.0f}% to simulating into memory, "
              f"{100 * (w1 / w0 - 1):.0f}% to simulating into files (lupustrial simulate)")


if __name__ == "__main__":
    main()

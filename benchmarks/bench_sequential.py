"""Benchmark: a group-sequential design of 3 looks x 10 total sample sizes x 2,000 trials, model included.

Issue 16 target: under 2 minutes on 2 cores. ``power_curve`` on the bundled confirmatory protocol
(``beat-lupus-confirmatory``: 3 looks by events, asOF alpha spending, bsOF futility): every trial is
simulated once at the largest N (common random numbers) and once more under the null (type I
error), each of the 10 sizes is cut at its 3 looks and analysed (batched Cox), and the exponential
cross-check and rpact's analytic figures are computed. Side by side: the fixed design alone (the
same trials, no interim looks, no null run), the anchor this feature adds to.
Run: python benchmarks/bench_sequential.py [--trials 2000] [--workers 2] [--chunk 100]
"""

from __future__ import annotations

import argparse
import os
import time

from bench_design import _children_cpu  # run as a script: benchmarks/ is on the path
from lupustrial.design.execute import executor
from lupustrial.design.power import power_curve
from lupustrial.protocol import load_protocol

SIZES = [100, 120, 140, 160, 180, 200, 220, 240, 260, 280]


def _timed(protocol, args) -> tuple[float, float, object]:
    cpu = _children_cpu()
    with executor(args.workers) as pool:
        start = time.perf_counter()
        curve = power_curve(protocol, SIZES, n_trials=args.trials, seed=1, chunk=args.chunk, executor=pool)
        wall = time.perf_counter() - start
    return wall, _children_cpu() - cpu, curve


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=100)
    args = parser.parse_args()
    protocol = load_protocol("beat-lupus-confirmatory")
    power_curve(protocol, [8, 12], n_trials=2, seed=0)  # warm-up: imports and compilation
    wall, cpu, curve = _timed(protocol, args)
    seq = curve.sequential.table
    print(f"group-sequential: 3 looks x sizes={SIZES} x trials={args.trials}, workers={args.workers} "
          f"chunk={args.chunk} cores={os.cpu_count()} load={os.getloadavg()[0]:.1f}: {wall:.1f} s wall, worker CPU "
          f"{cpu:.1f} s (= {cpu / args.workers:.1f} s on {args.workers} idle cores)")
    print(f"  power {seq['power'].round(3).tolist()}")
    print(f"  type I error (no futility) {seq['type_i_error_no_futility'].round(4).tolist()}")
    fixed = protocol.model_copy(update={"interim": None})
    wall, cpu, _ = _timed(fixed, args)
    print(f"fixed design alone (same trials): {wall:.1f} s wall, worker CPU {cpu:.1f} s "
          f"(= {cpu / args.workers:.1f} s on {args.workers} idle cores)")


if __name__ == "__main__":
    main()

"""Benchmark: the per-trial analysis `reproduce` runs, the plan of BEAT-LUPUS on simulated trials.

Simulates one chunk of trials, then times `analyze_trial` (select the trial, run the protocol's
plan without Firth or safety tables, as `reproduce` does) over every trial; best of ``--repeat``
wall and CPU time (CPU time does not depend on the other jobs of a shared machine).
Run: python benchmarks/bench_analyze.py [--trials 50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from lupustrial.analysis.trial import analyze_trial
from lupustrial.data import select_trial, validate_trial
from lupustrial.design.reproduce import trial_plan
from lupustrial.protocol import load_protocol
from lupustrial.simulate import simulate_chunk


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    protocol = load_protocol("beat-lupus")
    frames = simulate_chunk(protocol, range(args.trials), 1, None)
    data = validate_trial(frames, {k: Path(k) for k in frames}, Path("simulated"))
    plan = trial_plan(protocol)
    wall, cpu = float("inf"), float("inf")
    for _ in range(args.repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        for t in range(args.trials):
            analyze_trial(select_trial(data, t + 1), plan)
        wall, cpu = min(wall, time.perf_counter() - start), min(cpu, time.process_time() - start_cpu)
    print(f"trials={args.trials}: wall {wall:.2f} s, CPU {cpu:.2f} s ({1000 * cpu / args.trials:.0f} ms/trial), "
          f"best of {args.repeat}")


if __name__ == "__main__":
    main()

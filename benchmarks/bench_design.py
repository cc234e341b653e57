"""Benchmark: a power curve of 10 total sample sizes x 2,000 trials each, model included.

Issue 6 target: under 60 s on 2 cores. Side by side: the array path with common random numbers
(each trial simulated once at the largest N, the first n patients analysed for each n; what
``lupustrial design`` does) and the ADaM path (one data-frame simulation per trial and size,
as the first slice did), the latter timed on a sample of trials and scaled.
Run: python benchmarks/bench_design.py [--trials 2000] [--workers 2] [--sample 100] [--protocol FILE]
(``--protocol``: another protocol, e.g. one whose plan has more endpoints to power; ``--sample 0``
skips the ADaM path)
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from functools import partial

import numpy as np

from lupustrial.analysis.batch import ancova_gmr_batch, cox_batch
from lupustrial.design.execute import executor
from lupustrial.design.power import power_curve, with_sample_size
from lupustrial.protocol import load_protocol
from lupustrial.simulate import simulate_chunk
from lupustrial.simulate.run import map_chunks

SIZES = [40, 60, 80, 100, 120, 140, 160, 180, 200, 220]


def _adam_chunk(protocol, trials: range, seed: int) -> int:
    """The first slice's per-size work: ADaM frames of every trial, reshaped and analysed."""
    frames = simulate_chunk(protocol, trials, seed)
    lab = frames["adlb"]
    lab = lab[(lab["PARAMCD"] == "DSDNA") & (lab["AVISITN"] == 52)]
    n = protocol.population.n_patients
    shape = (len(trials), n)
    y = np.full(shape, np.nan)
    rows = lab["USUBJID"].str[-3:].astype(int).to_numpy() - 1
    y[lab["TRIALID"].to_numpy() - 1 - trials.start, rows] = lab["AVAL"].to_numpy()
    tte = frames["adtte"][frames["adtte"]["PARAMCD"] == "TTSEVFL"]
    treated = (frames["adsl"]["TRT01P"].to_numpy() == "Belimumab").reshape(shape).astype(float)
    base = lab.groupby("USUBJID")["BASE"].first()
    b = np.full(shape, np.nan)
    b[lab["TRIALID"].to_numpy() - 1 - trials.start, rows] = base.reindex(lab["USUBJID"]).to_numpy()
    ancova_gmr_batch(y, b, treated, mask=np.isfinite(y))
    fit = cox_batch(tte["AVAL"].to_numpy().reshape(shape), (1 - tte["CNSR"].to_numpy()).reshape(shape), treated)
    return int(fit.estimable.sum())


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--sample", type=int, default=100, help="trials per size for the ADaM path (scaled)")
    parser.add_argument("--protocol", default="beat-lupus")
    args = parser.parse_args()
    protocol = load_protocol(args.protocol)
    power_curve(protocol, [8, 12], n_trials=2, seed=0)  # warm-up: imports and compilation
    cpu_before = _children_cpu()
    with executor(args.workers) as pool:
        start = time.perf_counter()
        curve = power_curve(protocol, SIZES, n_trials=args.trials, seed=1, chunk=args.chunk, executor=pool)
        elapsed = time.perf_counter() - start
    # Worker CPU time / workers = the wall time on as many idle cores (the machine is shared).
    cpu = _children_cpu() - cpu_before
    cox = curve.table[curve.table["endpoint"] == "TTSEVFL"]["power"].round(3).tolist()
    rules = ", ".join(curve.rules)
    print(f"{args.protocol} ({rules}):")
    print(f"array path + CRN: sizes={SIZES} trials={args.trials} workers={args.workers} chunk={args.chunk} "
          f"cores={os.cpu_count()} load={os.getloadavg()[0]:.1f}: {elapsed:.1f} s wall, worker CPU {cpu:.1f} s "
          f"(= {cpu / args.workers:.1f} s on {args.workers} idle cores); Cox power {cox}")
    if not args.sample:
        return
    start = time.perf_counter()
    for n in SIZES:
        func = partial(_adam_chunk, with_sample_size(protocol, n), seed=1)
        map_chunks(func, args.sample, chunk=args.chunk, workers=args.workers)
    sampled = time.perf_counter() - start
    print(f"ADaM path, one simulation per size: {args.sample} trials per size in {sampled:.1f} s -> "
          f"{sampled * args.trials / args.sample:.0f} s scaled to {args.trials} trials per size")


if __name__ == "__main__":
    main()

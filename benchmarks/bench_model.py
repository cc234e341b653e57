r"""Benchmark: the compiled model vs a per-patient scipy solve_ivp loop (the anchor).

    python benchmarks/bench_model.py --patients 100000 --weeks 60 --workers 2

Every patient's daily outputs are computed (``Trajectories.outputs``) and reduced chunk by
chunk to per-day sums, so memory stays bounded by the chunk size; ``--workers`` threads share
each chunk's patients, and CPU time (all threads) is printed beside wall time because the
machine is shared. The first (compiling or cache-loading) call is timed apart. The anchor
integrates a sample of the same patients one by one with ``solve_ivp(RK45)`` at the same
tolerances and is scaled to the full population. The error column compares the first
``--accuracy-sample`` patients and the ``--accuracy-extreme`` most extreme ones with
``solve_ivp(DOP853, rtol=1e-12)`` (the issue's rtol 1e-10 anchor errs by up to ~1e-6 itself);
``--accuracy-only RTOLS`` prints that error for each rtol (atol = rtol / 1000) and stops:

    python benchmarks/bench_model.py --accuracy-only 1e-6,5e-7,3e-7,2e-7,1e-7 \
        --accuracy-sample 100 --accuracy-extreme 20

Figures go to ``benchmarks/RESULTS.md`` by hand, with the command line that produced them.
``--params`` picks the parameter set as the ``lupustrial model`` commands do (default: the
calibrated one every simulation uses).
"""

from __future__ import annotations

import argparse
import os
import resource
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # BLAS threads only contend with the workers

import numpy as np  # noqa: E402

from lupustrial.model.cli import PARAMETER_SETS, parameter_set  # noqa: E402
from lupustrial.model.dosing import DosingEvents  # noqa: E402
from lupustrial.model.reference import simulate_reference  # noqa: E402
from lupustrial.model.simulate import Trajectories, simulate, simulate_chunks  # noqa: E402
from lupustrial.model.solver import ATOL, RTOL  # noqa: E402
from lupustrial.population.virtual import Population, extreme_patients, virtual_population  # noqa: E402
from lupustrial.protocol import load_protocol, protocol_dosing  # noqa: E402

ARMS = ("Placebo", "Belimumab")  # BEAT-LUPUS's, dosed by its protocol, randomised on day 42
RANDOMISED = 42.0


def arm_dosing(pop: Population, arm: str, last_day: float) -> DosingEvents:
    """The protocol's dosing of ``arm`` for every patient of ``pop``, up to ``last_day``."""
    n = pop.n
    return protocol_dosing(load_protocol("beat-lupus"), pop.covariates["weight_kg"], np.full(n, arm, dtype=object),
                           np.full(n, RANDOMISED), np.full(n, last_day))


def daily_sums(tr: Trajectories) -> dict[str, np.ndarray]:
    """Per-day sums of every output: forces the daily output of every patient, keeps little."""
    return {name: values.sum(axis=0) for name, values in tr.outputs().items()}


def max_relative_error(got: np.ndarray, ref: np.ndarray) -> float:
    """Largest |got - ref| / |ref| over patients × times × states, |ref| floored at 1e-6 of each state's range."""
    floor = np.maximum(1e-6 * np.abs(ref).max(axis=1, keepdims=True), 1e-300)
    return float((np.abs(got - ref) / np.maximum(np.abs(ref), floor)).max())


def accuracy(pop: Population, arm: str, days: np.ndarray, tolerances: list[tuple[float, float]], typical: int,
             extreme: int) -> list[float]:
    """Max relative error against solve_ivp(DOP853, rtol 1e-12) at each (rtol, atol), typical and extreme patients."""
    sample = pop.take(np.concatenate([np.arange(typical), extreme_patients(pop, extreme)]))
    dosing = arm_dosing(sample, arm, float(days[-1]))
    ref = simulate_reference(sample, dosing, days, rtol=1e-12, atol=1e-15)
    return [max_relative_error(simulate(sample, dosing, days, rtol=r, atol=a).states, ref) for r, a in tolerances]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--weeks", type=float, default=60)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=512)
    ap.add_argument("--rtol", type=float, default=RTOL)
    ap.add_argument("--atol", type=float, default=ATOL)
    ap.add_argument("--anchor-sample", type=int, default=20)
    ap.add_argument("--accuracy-sample", type=int, default=5,
                    help="patients compared with solve_ivp(DOP853, rtol 1e-12)")
    ap.add_argument("--accuracy-extreme", type=int, default=0, help="most extreme patients compared too")
    ap.add_argument("--accuracy-only", metavar="RTOLS", help="comma-separated rtols: print their errors and stop")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--params", choices=tuple(PARAMETER_SETS), default="calibrated")
    args = ap.parse_args()

    days = np.arange(0.0, 7 * args.weeks + 1)
    pop = virtual_population(args.patients, args.seed, parameter_set(args.params))
    if args.accuracy_only:
        tolerances = [(float(r), float(r) * 1e-3) for r in args.accuracy_only.split(",")]
        print(f"{args.accuracy_sample} typical + {args.accuracy_extreme} extreme of {args.patients} patients, "
              f"{len(days)} days, {args.params} parameters, against solve_ivp(DOP853, rtol 1e-12)")
        for arm in ARMS:
            errors = accuracy(pop, arm, days, tolerances, args.accuracy_sample, args.accuracy_extreme)
            print(f"{arm:9s}: " + " | ".join(f"rtol {r:g}: {e:.1e}" for (r, _), e in zip(tolerances, errors)))
        return
    t0 = time.perf_counter()
    first = pop.take(slice(0, 1))
    simulate(first, arm_dosing(first, "Placebo", 7.0), days[:8])
    print(f"first call (compile, or load numba's cache): {time.perf_counter() - t0:.2f} s")
    print(f"{args.patients} patients x {len(days)} days, chunk {args.chunk}, {args.workers} threads, "
          f"rtol {args.rtol:g}, atol {args.atol:g}, {args.params} parameters, {os.cpu_count()} CPUs")
    for arm in ARMS:
        dosing = arm_dosing(pop, arm, float(days[-1]))
        t0, c0 = time.perf_counter(), time.process_time()
        sums = [daily_sums(tr) for tr in simulate_chunks(pop, dosing, days, chunk=args.chunk, workers=args.workers,
                                                          rtol=args.rtol, atol=args.atol)]
        compiled, cpu = time.perf_counter() - t0, time.process_time() - c0
        mean_cd19 = sum(s["cd19_cells_ul"] for s in sums)[-1] / args.patients

        sample = pop.take(slice(0, args.anchor_sample))
        dose_s = arm_dosing(sample, arm, float(days[-1]))
        t0 = time.perf_counter()
        simulate_reference(sample, dose_s, days, method="RK45", rtol=args.rtol, atol=args.atol)
        loop = (time.perf_counter() - t0) / args.anchor_sample * args.patients
        [error] = accuracy(pop, arm, days, [(args.rtol, args.atol)], args.accuracy_sample, args.accuracy_extreme)
        print(f"{arm:9s}: compiled {compiled:7.2f} s ({cpu:.1f} s CPU) | scipy loop (scaled from {args.anchor_sample}) "
              f"{loop:8.0f} s | speed-up {loop / compiled:5.0f}x | max rel. error {error:.0e} "
              f"| mean CD19 on last day {mean_cd19:.2f}/µL")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()

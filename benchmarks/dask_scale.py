"""The Dask engine at scale: 1B votes out of core, and a cost model per EM iteration.

Three steps, each its own sub-command (``all`` runs them in order):

``generate``  Simulated votes written as partitioned Parquet, streaming: one file of
              ``--per-file`` votes at a time (numpy, int32 columns ``item, annotator,
              label``), never more in memory. 3 votes per item by 3 distinct annotators
              out of 5,000, 2 classes (prior 0.6 / 0.4), each annotator a two-coin
              confusion with per-class accuracy drawn from Beta(8, 2). Items are numbered
              consecutively, so every file holds whole items (the engine checks it and
              does not regroup). Seeded: file ``p`` uses ``default_rng([seed, p])``.
``scale``     The engine (pooled Dawid-Skene, the honest-confidence pass included) on the
              same data with 1, 2 and 4 local worker processes (1 thread each), then
              ``probe``: passes that only move partial statistics (no votes), for 16 and
              256 partitions and partials of 8 kB to 1.3 MB. Together they fit the cost
              model per iteration (``fit_cost_model``)

                  t_iter = a + d * P + b * votes / min(workers, cores) + c * P * S

              ``a``: fixed cost of a pass (round trips, the driver's M-step), ``d``: per
              task, ``b``: compute per vote on one core (from the workers' CPU time; it
              includes reading the encoded votes, 2.33 bytes per vote here), ``c``: per
              byte of partial statistics moved and summed (P partitions x S = A*K*L*8
              bytes each).
``big``       One run on the big data set with 2 workers: time per iteration, peak
              memory per worker (each worker process's peak RSS, from the kernel), total
              time, and where the time goes (every pass's wall time). Then the model's
              prediction for 10B votes on a cluster.

Results go to benchmarks/results/dask_scale.json (merged across sub-commands) and a table
is printed. Data goes to /tmp/dask_bench (not the repository).

Usage::

    python benchmarks/dask_scale.py generate --votes 1e9            # ~15 min, 4.3 GiB
    python benchmarks/dask_scale.py scale --votes 1e9 --files 20    # its first 1e8 votes
    python benchmarks/dask_scale.py big --votes 1e9 --workers 2
    python benchmarks/dask_scale.py model       # refit and print from the saved JSON
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "dask_scale.json"
DATA = Path("/tmp/dask_bench")
N_ANNOTATORS = 5000
VOTES_PER_ITEM = 3
PRIOR = (0.6, 0.4)


def data_dir(votes: int) -> Path:
    return DATA / f"votes_{votes:.0e}".replace("+", "")


def annotator_accuracy(seed: int) -> np.ndarray:
    """Per annotator and true class, P(gives the true class): Beta(8, 2), shape (A, 2)."""
    return np.random.default_rng(seed).beta(8, 2, size=(N_ANNOTATORS, 2))


def generate_file(path: Path, first_item: int, n_items: int, accuracy: np.ndarray,
                  seed: int, index: int) -> None:
    """One file: ``n_items`` consecutive items, 3 votes each by distinct annotators."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng([seed, index])
    truth = (rng.random(n_items) < PRIOR[1]).astype(np.int32)
    a0 = rng.integers(0, N_ANNOTATORS, n_items)
    d1 = rng.integers(1, N_ANNOTATORS // 2, n_items)
    d2 = rng.integers(N_ANNOTATORS // 2, N_ANNOTATORS, n_items)
    annotators = np.stack([a0, (a0 + d1) % N_ANNOTATORS, (a0 + d2) % N_ANNOTATORS], axis=1)
    annotators = annotators.astype(np.int32).ravel()
    true_per_vote = np.repeat(truth, VOTES_PER_ITEM)
    right = rng.random(annotators.size) < accuracy[annotators, true_per_vote]
    labels = np.where(right, true_per_vote, 1 - true_per_vote).astype(np.int32)
    items = np.repeat(np.arange(first_item, first_item + n_items, dtype=np.int32),
                      VOTES_PER_ITEM)
    table = pa.table({"item": items, "annotator": annotators, "label": labels})
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp, row_group_size=len(items))
    tmp.rename(path)


def generate(votes: int, per_file: int, seed: int) -> dict[str, Any]:
    """Write ``votes`` votes as Parquet files of ``per_file`` votes, one file at a time."""
    folder = data_dir(votes)
    folder.mkdir(parents=True, exist_ok=True)
    accuracy = annotator_accuracy(seed)
    items_per_file = per_file // VOTES_PER_ITEM
    n_items = votes // VOTES_PER_ITEM
    n_files = -(-n_items // items_per_file)
    start = time.perf_counter()
    for p in range(n_files):
        path = folder / f"part-{p:05d}.parquet"
        if path.exists():
            continue
        first = p * items_per_file
        generate_file(path, first, min(items_per_file, n_items - first), accuracy, seed, p)
        if p % 20 == 0:
            print(f"  file {p + 1}/{n_files}  {time.perf_counter() - start:.0f} s", flush=True)
    size = sum(f.stat().st_size for f in folder.glob("*.parquet"))
    record = {"votes": n_items * VOTES_PER_ITEM, "items": n_items, "files": n_files,
              "bytes_on_disk": size, "bytes_per_vote_on_disk": size / (n_items * VOTES_PER_ITEM),
              "seconds": time.perf_counter() - start, "folder": str(folder)}
    print(f"generated {record['votes']:,} votes in {n_files} files, {size / 2**30:.2f} GiB, "
          f"{record['seconds']:.0f} s")
    return record


def worker_peaks(client: Any) -> dict[str, float]:
    """Each worker process's peak resident memory so far, MiB (kernel's ru_maxrss)."""
    import resource

    def peak() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    return {str(addr): float(v) for addr, v in client.run(peak).items()}


def source(votes: int, files: int | None) -> str:
    """The data set of ``votes`` votes, or a glob of its first ``files`` files (the 1e8-vote
    runs read the first 20 files of the 1e9 set: no second copy on disk)."""
    folder = data_dir(votes)
    if files is None:
        return str(folder)
    if files % 10 or files > 100:
        raise SystemExit("--files must be a multiple of 10, at most 100")
    return str(folder / f"part-000[0-{files // 10 - 1}]?.parquet")


def worker_cpu(client: Any) -> float:
    """CPU seconds used so far by all worker processes together."""
    import resource

    def used() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    return float(sum(client.run(used).values()))


def run_engine(path: str, workers: int, method: str, memory_limit: str) -> dict[str, Any]:
    """The engine on the votes at ``path`` with ``workers`` local worker processes."""
    from distributed import Client, LocalCluster

    from consensus.engines.dask import aggregate_parquet

    folder = path
    output = DATA / f"labels_{workers}w"
    iterations: list[tuple[int, float, float]] = []
    cpu: list[float] = []
    last = [time.perf_counter(), 0.0]
    client_box: list[Any] = []

    def progress(iteration: int, per_vote: float) -> None:
        now = time.perf_counter()
        used = worker_cpu(client_box[0])
        iterations.append((iteration, per_vote, now - last[0]))
        cpu.append(used - last[1])
        last[0], last[1] = time.perf_counter(), used
        print(f"    iteration {iteration}: log-likelihood/vote {per_vote:.6f} "
              f"({iterations[-1][2]:.1f} s wall, {cpu[-1]:.1f} s worker CPU)", flush=True)

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      memory_limit=memory_limit, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client_box.append(client)
        start = time.perf_counter()
        last[0], last[1] = start, worker_cpu(client)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = aggregate_parquet(str(folder), output=str(output), method=method,
                                       scheduler=client, progress=progress, overwrite=True)
        total = time.perf_counter() - start
        peaks = worker_peaks(client)
    shutil.rmtree(output, ignore_errors=True)
    a, k = len(result.annotator_ids), len(result.classes)
    record = {
        "votes": result.n_votes, "items": result.n_items, "workers": workers,
        "partitions": result.n_partitions, "method": result.method,
        "n_iter": result.n_iter, "converged": result.converged,
        "total_seconds": total,
        "iteration_seconds": result.iteration_seconds(),
        "iteration_worker_cpu_seconds": cpu,
        "passes": [{"pass": n, "seconds": s} for n, s in result.timings],
        "peak_rss_mib_per_worker": peaks,
        "stat_bytes_per_partition": a * k * k * 8,
        "rho": result.rho,
        "log_likelihood_per_vote": result.log_likelihood / result.n_votes,
    }
    median = float(np.median(record["iteration_seconds"]))
    print(f"  {workers} worker(s): {result.n_iter} iterations, median {median:.2f} s each "
          f"({np.median(cpu):.2f} s worker CPU), "
          f"total {total:.0f} s, peak RSS per worker "
          f"{', '.join(f'{v:.0f}' for v in peaks.values())} MiB")
    return record


def reduction_probe(workers: int, partitions: tuple[int, ...] = (16, 256),
                    sizes: tuple[int, ...] = (8_000, 160_000, 1_280_000)) -> list[dict]:
    """Time passes whose tasks only return partial statistics (no vote is read), for a few
    partition counts and partial sizes: the fixed cost of a pass, the cost per task and the
    cost per byte of statistics moved and summed through the reduction tree."""
    from distributed import Client, LocalCluster

    from consensus.engines.cluster import Passes
    from consensus.engines.statistics import Sums, add_all

    def partial(index: int, rows: int) -> Sums:
        return Sums(np.full((rows, 2, 2), float(index)), np.zeros(2))

    out = []
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        for p in partitions:
            passes = Passes(client, p)
            for size in sizes:
                rows = max(size // 32, 1)
                passes.reduce("probe", partial, add_all, rows=rows)  # warm up
                times = []
                for _ in range(3):
                    start = time.perf_counter()
                    passes.reduce("probe", partial, add_all, rows=rows)
                    times.append(time.perf_counter() - start)
                out.append({"partitions": p, "bytes_each": rows * 32,
                            "seconds": float(np.median(times))})
                print(f"  {p} partials of {rows * 32 / 1000:.0f} kB: "
                      f"{out[-1]['seconds'] * 1000:.0f} ms", flush=True)
    return out


def fit_cost_model(runs: list[dict], probe: list[dict], cores: int) -> dict[str, Any]:
    """The cost of a pass, t = a + d*P + b*votes/workers + c*P*S.

    a (fixed per pass: the driver's M-step, the scheduler's round trips), d (per task)
    and c (per byte of partial statistics moved and summed) by least squares on the
    reduction probe; b, the compute per vote (reading the encoded partition, building its
    count matrix, the E-step, the expected counts), from the worker CPU seconds of the
    real iterations: what a core of one's own delivers (this machine's two cores were
    shared with other jobs during the runs, so wall time also holds waiting).
    """
    x = np.array([[1.0, r["partitions"], r["partitions"] * r["bytes_each"]] for r in probe])
    y = np.array([r["seconds"] for r in probe])
    a, d, c = np.linalg.lstsq(x, y, rcond=None)[0]
    b = float(np.median([np.median(r["iteration_worker_cpu_seconds"]) / r["votes"]
                         for r in runs]))
    checks = []
    for run in runs:
        p, size = run["partitions"], run["stat_bytes_per_partition"]
        predicted = a + d * p + b * run["votes"] / min(run["workers"], cores) + c * p * size
        measured = float(np.median(run["iteration_seconds"]))
        cpu = float(np.median(run["iteration_worker_cpu_seconds"]))
        checks.append({"votes": run["votes"], "workers": run["workers"], "partitions": p,
                       "measured": measured, "predicted": predicted, "worker_cpu": cpu,
                       "error": predicted / measured - 1,
                       "cpu_share_of_wall": cpu / (measured * min(run["workers"], cores))})
    return {"a_seconds": float(a), "d_seconds_per_task": float(d),
            "b_seconds_per_vote": b, "c_seconds_per_byte": float(c), "cores": cores,
            "encoded_bytes_per_vote": 2 + 1 / VOTES_PER_ITEM, "checks": checks}


def predict(model: dict[str, Any], votes: float, workers: int, partitions: int,
            stat_bytes: int, iterations: int, read_bytes_per_second: float) -> dict:
    """Time per iteration on ``workers`` workers of one core each.

    Assumptions: each worker computes as fast as one core here (b); the encoded votes
    (``encoded_bytes_per_vote``) are read from shared storage at ``read_bytes_per_second``
    per worker each iteration (not from page cache as here); per-task cost (d) stays with
    the one scheduler; moving and summing partials (c) spreads over the workers, each
    reduction task taking 8 partials.
    """
    compute = model["b_seconds_per_vote"] * votes / workers
    read = model["encoded_bytes_per_vote"] * votes / workers / read_bytes_per_second
    reduce = model["c_seconds_per_byte"] * partitions * stat_bytes / workers
    # a reduction tree of fan-in 8 adds P/8 + P/64 + ... ~ 0.15 P tasks
    per_iteration = (model["a_seconds"] + model["d_seconds_per_task"] * partitions * 1.15
                     + compute + read + reduce)
    return {"votes": votes, "workers": workers, "partitions": partitions,
            "seconds_per_iteration": per_iteration,
            "parts": {"fixed": model["a_seconds"],
                      "tasks": model["d_seconds_per_task"] * partitions * 1.15,
                      "compute": compute, "read": read, "reduce": reduce},
            "iterations": iterations, "em_seconds": per_iteration * (iterations + 3)}


def load_results() -> dict[str, Any]:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {}


def save_results(update: dict[str, Any]) -> dict[str, Any]:
    results = load_results()
    results.update(update)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=float) + "\n")
    return results


def report(results: dict[str, Any]) -> None:
    """Print the runs, the model and its checks, the 1B run and the 10B prediction."""
    print("\nruns (median seconds per iteration):")
    print(f"{'votes':>14} {'workers':>7} {'parts':>5} {'iters':>5} {'s/iter':>7} "
          f"{'total s':>8} {'peak MiB/worker':>16}")
    for run in results.get("scale_runs", []) + ([results["big"]] if "big" in results else []):
        peaks = "/".join(f"{v:.0f}" for v in run["peak_rss_mib_per_worker"].values())
        print(f"{run['votes']:>14,} {run['workers']:>7} {run['partitions']:>5} "
              f"{run['n_iter']:>5} {np.median(run['iteration_seconds']):>7.2f} "
              f"{run['total_seconds']:>8.0f} {peaks:>16}")
    model = results.get("cost_model")
    if model:
        print(f"\ncost model: t_iter = {model['a_seconds']:.3f} s + "
              f"{model['d_seconds_per_task'] * 1e3:.2f} ms x partitions + "
              f"{model['b_seconds_per_vote'] * 1e9:.2f} ns x votes/worker + "
              f"{model['c_seconds_per_byte'] * 1e9:.3f} ns x statistic bytes")
        for check in model["checks"]:
            print(f"  {check['votes']:>14,} votes, {check['workers']} worker(s): measured "
                  f"{check['measured']:.2f} s, predicted {check['predicted']:.2f} s "
                  f"({check['error']:+.0%}); worker CPU {check['worker_cpu']:.2f} s = "
                  f"{check['cpu_share_of_wall']:.0%} of the cores' wall time")
    for name in ("prediction_1e9_2w", "prediction_10B"):
        if name in results:
            p = results[name]
            parts = ", ".join(f"{k} {v:.2f} s" for k, v in p["parts"].items())
            print(f"\n{name}: {p['seconds_per_iteration']:.1f} s per iteration ({parts}), "
                  f"~{p['em_seconds'] / 60:.1f} min for {p['iterations']} iterations "
                  f"(+3 passes) on {p['workers']} workers")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["generate", "scale", "probe", "big", "model"])
    parser.add_argument("--votes", type=float, default=1e8)
    parser.add_argument("--per-file", type=int, default=5_000_001)
    parser.add_argument("--files", type=int, default=None,
                        help="read only the first FILES files of the --votes data set")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-counts", type=int, nargs="+", default=[1, 2, 4],
                        help="the scale step's runs")
    parser.add_argument("--method", default="pooled")
    parser.add_argument("--memory-limit", default="6GiB")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    votes = int(args.votes)
    cores = os.cpu_count() or 1
    per_file = args.per_file - args.per_file % VOTES_PER_ITEM
    if args.step == "generate":
        save_results({f"generate_{votes:.0e}".replace("+", ""): generate(votes, per_file,
                                                                        args.seed)})
        return
    if args.step == "scale":
        for w in args.worker_counts:  # each run saved as it ends
            run = run_engine(source(votes, args.files), w, args.method, args.memory_limit)
            kept = [r for r in load_results().get("scale_runs", []) if r["workers"] != w]
            save_results({"scale_runs": sorted(kept + [run], key=lambda r: r["workers"])})
    if args.step in ("scale", "probe"):
        probe = reduction_probe(2)
        save_results({"reduction_probe": probe})
    if args.step in ("scale", "probe", "model"):
        results = load_results()
        save_results({"cost_model": fit_cost_model(results["scale_runs"],
                                                    results["reduction_probe"], cores)})
    if args.step == "big":
        save_results({"big": run_engine(source(votes, args.files), args.workers, args.method,
                                        args.memory_limit)})
    results = load_results()
    model = results.get("cost_model")
    if model:
        stat_bytes = N_ANNOTATORS * 2 * 2 * 8
        big = results.get("big")
        iterations = big["n_iter"] if big else 20
        if big:  # this machine: page cache, not storage (reading is in b)
            results["prediction_1e9_2w"] = predict(model, big["votes"], 2, big["partitions"],
                                                   stat_bytes, big["n_iter"], np.inf)
        # 10B votes: 2,000 files of 5M votes, 100 workers (1 core each), each reading the
        # encoded votes from object storage at 100 MB/s.
        results["prediction_10B"] = predict(model, 1e10, 100, 2000, stat_bytes, iterations,
                                            1e8)
        save_results({k: results[k] for k in ("prediction_10B", "prediction_1e9_2w")
                      if k in results})
    report(load_results())


if __name__ == "__main__":
    main()

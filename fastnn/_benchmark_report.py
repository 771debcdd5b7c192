"""Reports of the side-by-side benchmark (:mod:`fastnn.benchmark`): the derived columns
of its table, issue 4's targets, and the Markdown, JSON and PNG files."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ._benchmark_host import PEER_NAMES


def mean_extras(round_extras: list[dict]) -> dict:
    """The accuracy of a row's per-round fits: mean, lowest and highest, and their seeds."""
    pairs = [(e["seed"], e["accuracy"]) for e in round_extras if e.get("accuracy") is not None]
    if not pairs:
        return {}
    seeds, values = zip(*pairs)
    return {"accuracy": float(np.mean(values)), "accuracy_min": min(values),
            "accuracy_max": max(values), "seeds": list(seeds)}


def derive(result: dict) -> None:
    """Median seconds, samples/s, GFLOP/s, % of roof, ratio to the fastest peer, per row."""
    for workload in result["workloads"]:
        roof = result["roof"].get(workload["dtype"], {}).get("gflops")
        for row in workload["rows"]:
            times = row["seconds"]
            calm = [t for t, d in zip(times, row["disturbed"]) if not d]
            if not times or row["error"]:
                row.update(median_s=None, median_of=None, samples_per_s=None, gflops=None,
                           roof_pct=None)
                continue
            row["median_of"] = "calm" if calm else "all"
            row["median_s"] = float(np.median(calm or times))
            row["samples_per_s"] = row["samples"] / row["median_s"]
            row["gflops"] = row["flops"] / row["median_s"] / 1e9
            row["roof_pct"] = 100 * row["gflops"] / roof if roof else None
        rates = [r["samples_per_s"] for r in workload["rows"]
                 if r["peer"] != "fastnn" and r["samples_per_s"]]
        best = max(rates) if rates else None
        workload["fastest_peer"] = next((r["label"] for r in workload["rows"]
                                         if r["peer"] != "fastnn" and r["samples_per_s"] == best),
                                        None)
        for row in workload["rows"]:
            row["x_fastest_peer"] = (row["samples_per_s"] / best
                                     if best and row["samples_per_s"] else None)


def issue_targets(result: dict) -> list[dict]:
    """Issue 4's targets against the best fastnn row of each workload."""
    from ._benchmark_fastnn import FastnnTrainOneThread, FastnnTrainTwoThreads

    by_id = {w["id"]: w for w in result["workloads"]}
    targets = []

    def best_fastnn(workload, key="samples_per_s"):
        rows = [r for r in workload["rows"] if r["peer"] == "fastnn" and r.get(key)]
        return max(rows, key=lambda r: r[key]) if rows else None

    def add(target, measured, met):
        targets.append({"target": target, "measured": measured, "met": met})

    for wid, factor in (("W1 bs32", 1.5), ("W1 bs128", 1.5), ("W1 bs512", 1.2)):
        w = by_id.get(wid)
        row = w and best_fastnn(w)
        if row and row["x_fastest_peer"]:
            add(f"{wid}: fastnn >= {factor}x the fastest peer",
                f"{row['x_fastest_peer']:.2f}x {w['fastest_peer']} ({row['label']}, "
                f"{row['roof_pct']:.0f} % of roof)", row["x_fastest_peer"] >= factor)
    for w in (w for w in result["workloads"] if w.get("spec", {}).get("one_thread_row")):
        rows = {r["label"]: r for r in w["rows"] if r["peer"] == "fastnn" and r["median_s"]}
        double, single = (rows.get(FastnnTrainTwoThreads.label),
                          rows.get(FastnnTrainOneThread.label))
        if double and single:
            speedup = single["median_s"] / double["median_s"]
            add(f"{w['id']}: fastnn on 2 threads >= 1.7x 1 thread",
                f"{speedup:.2f}x (train(): {double['median_s']:.3f} s on 2 threads, "
                f"{single['median_s']:.3f} s on 1)", speedup >= 1.7)
    w = by_id.get("W2")
    row = w and best_fastnn(w)
    if row:
        others = ", ".join(f"{r['label']} {_si(r['samples_per_s'])}/s" for r in w["rows"]
                           if r["peer"] == "fastnn" and r is not row and r["samples_per_s"])
        add("W2: fastnn >= 10 million sample-updates/s",
            f"{_si(row['samples_per_s'])}/s ({row['label']}" + (f"; {others}" if others else "")
            + ")", row["samples_per_s"] >= 1e7)
    for wid, peer_label in (("W3 perceptron", "scikit-learn Perceptron"),
                            ("W3 logistic", "scikit-learn SGDClassifier")):
        w = by_id.get(wid)
        row = w and best_fastnn(w)
        peer = w and next((r for r in w["rows"] if r["label"] == peer_label and r["samples_per_s"]),
                          None)
        if row and peer:
            speedup = row["samples_per_s"] / peer["samples_per_s"]
            acc, peer_acc, seeds = _mean_accuracies(row, peer)
            gap = None if acc is None or peer_acc is None else 100 * (acc - peer_acc)
            others = "".join(
                f"; {r['label']} {r['samples_per_s'] / peer['samples_per_s']:.2f}x, accuracy "
                f"{_pct(_mean_accuracies(r, peer)[0])}" for r in w["rows"]
                if r["peer"] == "fastnn" and r is not row and r["samples_per_s"])
            add(f"{wid}: fastnn >= 5x {peer_label} at equal accuracy (within 0.5 points)",
                f"{speedup:.2f}x ({row['label']}); mean accuracy {_pct(acc)} vs "
                f"{_pct(peer_acc)} over seeds {_seeds(seeds)}" + others,
                speedup >= 5 and gap is not None and abs(gap) <= 0.5)
    for wid, dtype in (("W4", "float32"), ("W5", "float64")):
        w = by_id.get(wid)
        row = w and best_fastnn(w)
        if row and row["x_fastest_peer"] and row["roof_pct"]:
            add(f"{wid}: fastnn at least as fast as the fastest peer and >= 90 % of the "
                f"{dtype} roof",
                f"{row['x_fastest_peer']:.2f}x {w['fastest_peer']}, {row['roof_pct']:.0f} % of "
                f"roof ({row['label']})",
                row["x_fastest_peer"] >= 1.0 and row["roof_pct"] >= 90)
    return targets


def _mean_accuracies(row: dict, peer: dict):
    """Mean accuracies of two rows over the seeds both fitted with, and those seeds.

    Normally every implementation fits with every round's seed; one that
    stopped early (slow, failed) is compared on its seeds only, so the two
    means always cover the same shuffles.
    """
    common = set(row["extras"].get("seeds", [])) & set(peer["extras"].get("seeds", []))

    def mean(r):
        return mean_extras([e for e in r["round_extras"] if e["seed"] in common]).get("accuracy")

    return mean(row), mean(peer), sorted(common)


def _seeds(seeds) -> str:
    """``0-2`` for consecutive seeds, else ``0, 2``; ``-`` for none."""
    if not seeds:
        return "-"
    if len(seeds) > 1 and list(seeds) == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


# -------------------------------------------------------------------------- reports


def _si(value) -> str:
    if value is None:
        return "-"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


def _accuracy(extras: dict) -> str:
    """``85.40 % (84.80-86.20)``: a mean over seeds with its range, or one accuracy."""
    if extras.get("accuracy_min") is None or len(extras.get("seeds", [])) < 2:
        return _pct(extras.get("accuracy"))
    return (f"{_pct(extras['accuracy'])} ({100 * extras['accuracy_min']:.2f}-"
            f"{100 * extras['accuracy_max']:.2f})")


def _num(value, fmt) -> str:
    return "-" if value is None else format(value, fmt)


def markdown(result: dict) -> str:
    """The report: conditions, the table, the issue's targets, the rounds."""
    meta, roof = result["meta"], result["roof"]
    versions = ", ".join(
        f"{PEER_NAMES[p]} {i['version']}" for p, i in meta["peers"].items() if i.get("available"))
    missing = ", ".join(PEER_NAMES[p] for p, i in meta["peers"].items() if not i.get("available"))
    numpy_info = meta["peers"].get("numpy", {}).get("blas", "")
    fastnn_threads = meta["peers"].get("fastnn", {}).get("threads", {})
    lines = [
        "# fastnn side by side with its peers" + (" (quick smoke run)" if meta["quick"] else ""),
        "",
        f"Measured by `{meta['command']}` on {meta['date']} in {meta.get('seconds', 0):.0f} s: "
        f"{meta['cpu']}, {meta['n_cpus']} logical CPUs, Python {meta['python']}; {versions}"
        + (f" (NumPy BLAS: {numpy_info})" if numpy_info else "")
        + (f"; not installed: {missing}" if missing else "") + ".",
        "",
        f"Threads: fastnn {fastnn_threads.get('n_threads', '?')}"
        + (" adaptive (its default: each segment of an epoch with all threads or one, "
           "whichever measures faster)" if fastnn_threads.get("adaptive") else "")
        + f" (threading layer {fastnn_threads.get('threading_layer', '?')}, OMP_WAIT_POLICY "
        f"{fastnn_threads.get('omp_wait_policy', '?')}), PyTorch 2, NumPy/scikit-learn OpenBLAS "
        "default, JAX (XLA) default; one worker process per peer, so no two thread pools share "
        "a process; every worker has OMP_WAIT_POLICY "
        f"{fastnn_threads.get('omp_wait_policy', os.environ.get('OMP_WAIT_POLICY'))}"
        " (libgomp's spinning default made PyTorch 10-20x slower on this loaded machine).",
        "",
        "Roof (best calm n x n GEMM through NumPy, at the start and the end of the run; "
        "* disturbed): " + ", ".join(
            f"{dt} {r['gflops']:.1f} GFLOP/s (n = {r['n']}; all: " + ", ".join(
                f"{v:.0f}" + ("*" if d else "") for v, d in zip(
                    r["measurements"], r.get("disturbed") or [False] * len(r["measurements"])))
            + ")" for dt, r in roof.items()) + ".",
        "",
        f"Load average (1, 5, 15 min) at the start {meta['loadavg_start']}, at the end "
        f"{meta.get('loadavg_end')}. A run is *disturbed* when other processes kept more than "
        f"{meta['max_foreign_cores']} cores busy during it; **median s** is over the calm runs "
        "(over all runs, marked *, when none was calm); an implementation is not run again "
        f"after a calm run longer than {meta['sizes']['slow_run']:g} s, or two such runs. "
        "**× fastest peer** = samples/s over the "
        "best non-fastnn samples/s of the workload (above 1: faster than every peer). "
        "GFLOP/s counts matrix products only: forward 2·n·Σ in·out, weight gradients the same, "
        "input gradients for every layer but the first (W3 perceptron: the forward dot products; "
        "its updates happen on mistakes only). **accuracy**: W2 on the 4 XOR points after the "
        "last run; W3 the mean test accuracy over the rounds, round r's fit shuffled with "
        "random_state r - 1 by every implementation (the range over the rounds in parentheses); "
        "the W3 targets compare these means.",
        "",
        "| workload | implementation | work per run | median s | samples/s | GFLOP/s | % of roof "
        "| × fastest peer | accuracy | calm/all runs |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for w in result["workloads"]:
        for row in w["rows"]:
            label = f"**{row['label']}**" if row["peer"] == "fastnn" else row["label"]
            if row["error"]:
                lines.append(f"| {w['id']} | {label} | | failed: {row['error']} | | | | | | |")
                continue
            unit = " updates" if w["kind"] == "xor" else ""
            star = "*" if row["median_of"] == "all" else ""
            calm = sum(not d for d in row["disturbed"])
            x = row["x_fastest_peer"]
            lines.append(
                f"| {w['id']} | {label} | {_si(row['samples'])}{unit} | "
                f"{_num(row['median_s'], '.3f')}{star} | {_si(row['samples_per_s'])} | "
                f"{_num(row['gflops'], '.1f')} | {_num(row['roof_pct'], '.0f')} | "
                f"{'-' if x is None else f'{x:.2f}'} | {_accuracy(row['extras'])} | "
                f"{calm}/{len(row['seconds'])} |")
    lines += ["", "Workloads:", ""]
    lines += [f"- **{w['id']}**: {w['title']}" + (f"; {w['note']}" if w.get("note") else "")
              + "." for w in result["workloads"]]
    if result.get("targets"):
        lines += ["", "## Targets of issue 4", "", "| target | measured | met |", "|---|---|---|"]
        lines += [f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else '**no**'} |"
                  for t in result["targets"]]
    lines += ["", "## Rounds", "",
              "Load average (1 min) at the start of each round, seconds waited for a quiet "
              "moment before it, and runs disturbed by other processes:", ""]
    for w in result["workloads"]:
        lines.append(f"- {w['id']}: " + "; ".join(
            f"round {r['round']}" + ("" if r.get("seed") is None else f" (seed {r['seed']})")
            + f": load {r['loadavg'][0] if r['loadavg'] else '?'}, waited "
            f"{r['waited_s']} s, {r['disturbed_runs']} disturbed" for r in w["rounds"]))
    return "\n".join(lines) + "\n"


def plot(result: dict, path) -> bool:
    """Bar chart of × fastest peer per workload; False (and no file) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    shown = [w for w in result["workloads"] if any(r["x_fastest_peer"] for r in w["rows"])]
    if not shown:
        return False
    heights = [max(1, len(w["rows"])) * 0.32 + 0.7 for w in shown]
    fig, axes = plt.subplots(len(shown), 1, figsize=(9, sum(heights)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, w in zip(axes[:, 0], shown):
        rows = [r for r in w["rows"] if r["x_fastest_peer"]][::-1]
        values = [r["x_fastest_peer"] for r in rows]
        colors = ["tab:red" if r["peer"] == "fastnn" else "tab:gray" for r in rows]
        ax.barh(range(len(rows)), values, color=colors)
        ax.set_yticks(range(len(rows)), [r["label"] for r in rows], fontsize=8)
        ax.set_xscale("log")
        ax.set_xlim(min(values + [1.0]) / 1.5, max(values + [1.0]) * 1.8)
        ax.axvline(1.0, color="black", linewidth=0.8)
        for i, (v, r) in enumerate(zip(values, rows)):
            roof = (f", {r['roof_pct']:.0f} % of roof"
                    if w["kind"] in ("mlp", "forward") and r["roof_pct"] is not None else "")
            ax.text(v, i, f" {v:.2f}{roof}", va="center", fontsize=7)
        title = w["title"].split(":")[0] if w["kind"] == "xor" else w["title"]
        ax.set_title(f"{w['id']}: {title}", fontsize=8, loc="left")
        ax.tick_params(axis="x", labelsize=7)
    axes[-1, 0].set_xlabel("samples/s relative to the fastest peer (log scale; right of 1 = "
                           "faster than every peer)", fontsize=8)
    fig.suptitle("fastnn (red) vs peers, " + result["meta"]["date"][:10], fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write(result: dict, out_dir, stem: str = "compare", png: bool = True, log=print) -> dict:
    """Write ``<stem>.md``, ``.json`` and (matplotlib) ``.png`` in ``out_dir``; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"md": out / f"{stem}.md", "json": out / f"{stem}.json"}
    paths["md"].write_text(markdown(result))
    paths["json"].write_text(json.dumps(result, indent=1, default=_json_default) + "\n")
    if png:
        if plot(result, out / f"{stem}.png"):
            paths["png"] = out / f"{stem}.png"
        else:
            log("matplotlib is not installed (pip install matplotlib): no bar chart written")
    return paths


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")

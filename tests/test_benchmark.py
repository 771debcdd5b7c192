"""The side-by-side benchmark (fastnn/benchmark.py): its structure and FLOP counts.

A quick run of fastnn against the NumPy peer on tiny sizes, in worker
processes as ``fastnn bench`` runs it, and W3 against scikit-learn in this
process (per-round seeds, mean accuracies).  Numbers of work and FLOPs are
asserted exactly; timings never are.
"""
import json

import numpy as np
import pytest

import fastnn
from fastnn import _benchmark_host, _benchmark_report, benchmark
from fastnn._benchmark_common import init_weights
from fastnn._benchmark_fastnn import (FastnnForward, FastnnMLPClassifier, FastnnPredictProba,
                                     FastnnTrain)
from fastnn._benchmark_peers import NumpyNet

TINY = {"n": 96, "layers": [6, 5, 4, 3], "batch_sizes": [32], "lr": 0.01, "xor_seconds": 0.01,
        "w3_n": 400, "w3_d": 7, "w3_test": 100, "w3_epochs": 2, "roof_n": 64, "rounds": 2,
        "light_rounds": 2, "wait_budget": 0.0}
#: workload id -> (implementations with fastnn and NumPy only)
EXPECTED_ROWS = {
    "W1 bs32": ["fastnn train()", "fastnn MLPClassifier", "fastnn train(), 2 threads",
                "fastnn train(), 1 thread", "NumPy"],
    "W2": ["fastnn train()", "fastnn run_epoch(), all epochs in one call", "NumPy"],
    "W3 perceptron": ["fastnn Perceptron", "fastnn Perceptron(shuffle_block=1)"],
    "W3 logistic": ["fastnn SGDClassifier", "fastnn SGDClassifier(shuffle_block=1)"],
    "W4": ["fastnn Network.forward()", "fastnn MLPClassifier.predict_proba()", "NumPy"],
    "W5": ["fastnn train()", "fastnn MLPClassifier", "NumPy"],
}


def test_flop_counts_are_exact():
    # 3-4-2 on 5 rows: forward 2*5*(3*4 + 4*2) = 200, weight gradients 200, and the
    # input gradient of the second layer only, 2*5*4*2 = 80.
    assert benchmark.forward_flops([3, 4, 2], 5) == 200
    assert benchmark.training_flops([3, 4, 2], 5) == 480
    # One layer: no input gradient at all.
    assert benchmark.training_flops([100, 1], 1) == 400
    # W1 epoch: 784-256-128-10 on 60,000 rows, about 0.46 s at 130 GFLOP/s.
    assert benchmark.training_flops([784, 256, 128, 10], 60_000) == 60_426_240_000
    assert benchmark.forward_flops([784, 256, 128, 10], 60_000) == 28_170_240_000


def test_numpy_peer_is_the_same_network():
    """The NumPy twin's gradient step equals fastnn's on the same weights and batch."""
    import fastnn

    rng = np.random.default_rng(0)
    X = rng.random((8, 6))
    Y = np.eye(3)[rng.integers(0, 3, 8)]
    twin = NumpyNet([6, 5, 4, 3], "relu", "softmax", seed=0, dtype=np.float64)
    net = fastnn.Network([6, 5, 4, 3], "relu", "softmax", dtype=np.float64)
    for (W, b), coef, intercept in zip(init_weights([6, 5, 4, 3], "relu", "softmax", 0,
                                                    np.float64), net.coefs, net.intercepts):
        coef[...], intercept[...] = W, b
    loss, _ = net.loss_and_gradient(X, Y)
    net.params -= 0.1 * net.grads
    assert twin.step(X, Y, 0.1) == pytest.approx(loss, rel=1e-12)
    for (W, b), coef, intercept in zip(twin.params, net.coefs, net.intercepts):
        np.testing.assert_allclose(W, coef, rtol=1e-12)
        np.testing.assert_allclose(b, intercept, rtol=1e-12, atol=1e-15)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    logged = []
    result = benchmark.run(quick=True, peers=["fastnn", "numpy"], sizes=TINY, log=logged.append)
    out = tmp_path_factory.mktemp("bench")
    paths = benchmark.write(result, out, "compare-quick", png=False, log=logged.append)
    return result, paths, logged


def test_quick_run_structure(quick_run):
    result, _, _ = quick_run
    assert set(result) == {"meta", "roof", "workloads", "targets"}
    assert result["meta"]["quick"] is True
    peers = result["meta"]["peers"]
    assert {p: i["available"] for p, i in peers.items()} == {"fastnn": True, "numpy": True}
    # each peer in its own process: the NumPy worker never loaded fastnn's Numba
    assert peers["fastnn"]["numba_loaded"] and not peers["numpy"]["numba_loaded"]
    assert set(result["roof"]) == {"float32", "float64"}
    for roof in result["roof"].values():  # 3 GEMMs at the start, 2 at the end
        assert roof["n"] == 64 and len(roof["measurements"]) == len(roof["disturbed"]) == 5
        calm = [v for v, d in zip(roof["measurements"], roof["disturbed"]) if not d]
        assert roof["gflops"] == max(calm or roof["measurements"]) > 0
    assert {w["id"]: [r["label"] for r in w["rows"]] for w in result["workloads"]} == EXPECTED_ROWS
    for workload in result["workloads"]:
        assert len(workload["rounds"]) == 2
        for row in workload["rows"]:
            assert row["error"] is None, row
            assert len(row["seconds"]) == len(row["disturbed"]) == len(row["foreign_cores"]) == 2
            assert row["median_s"] > 0 and row["median_of"] in ("calm", "all")
            assert row["samples_per_s"] == pytest.approx(row["samples"] / row["median_s"])
            assert row["gflops"] == pytest.approx(row["flops"] / row["median_s"] / 1e9)
            roof = result["roof"][workload["dtype"]]["gflops"]
            assert row["roof_pct"] == pytest.approx(100 * row["gflops"] / roof)
        peers = [r for r in workload["rows"] if r["peer"] == "numpy"]
        if peers:  # the only peer is the fastest one
            assert workload["fastest_peer"] == "NumPy" and peers[0]["x_fastest_peer"] == 1.0
        else:
            assert workload["fastest_peer"] is None
            assert all(r["x_fastest_peer"] is None for r in workload["rows"])


def test_quick_run_counts_work_and_flops_exactly(quick_run):
    result, _, _ = quick_run
    by_id = {w["id"]: w for w in result["workloads"]}
    n, layers = TINY["n"], TINY["layers"]
    for wid in ("W1 bs32", "W5"):
        for row in by_id[wid]["rows"]:
            assert row["samples"] == n
            assert row["flops"] == benchmark.training_flops(layers, n)
    assert by_id["W5"]["dtype"] == "float64" and by_id["W5"]["spec"]["batch_size"] == 128
    for row in by_id["W4"]["rows"]:
        assert (row["samples"], row["flops"]) == (n, benchmark.forward_flops(layers, n))
    for row in by_id["W2"]["rows"]:  # 2-4-1: 2*(8+4) forward + 24 weight gradients + 8
        assert row["samples"] % 4 == 0 and row["flops"] == 56 * row["samples"]
    linear = TINY["w3_n"] * TINY["w3_epochs"]
    for wid, flops_per_feature in (("W3 perceptron", 2), ("W3 logistic", 4)):
        rows = by_id[wid]["rows"]
        assert len(rows) == 2  # fastnn's blocked (default) and uniform shuffles
        for row in rows:
            assert (row["samples"], row["flops"]) == (linear, flops_per_feature * TINY["w3_d"] * linear)
            assert 0.5 < row["extras"]["accuracy"] <= 1.0


def test_quick_run_reports(quick_run):
    result, paths, logged = quick_run
    assert set(paths) == {"md", "json"} and paths["md"].name == "compare-quick.md"
    assert json.loads(paths["json"].read_text())["workloads"][0]["id"] == "W1 bs32"
    text = paths["md"].read_text()
    assert text == benchmark.markdown(result)
    header = ("| workload | implementation | work per run | median s | samples/s | GFLOP/s "
              "| % of roof | × fastest peer | accuracy | calm/all runs |")
    assert header in text
    table = [line for line in text.splitlines() if line.startswith("| W")]
    # one line per implementation in the main table, then one per target
    assert len(table) == sum(map(len, EXPECTED_ROWS.values())) + len(result["targets"])
    assert "| W1 bs32 | **fastnn train()** | 96 |" in text
    assert [t["target"].split(":")[0] for t in result["targets"]] == [
        "W1 bs32", "W1 bs32", "W2", "W4", "W5"]  # W3 needs scikit-learn's rows, not run here
    assert result["targets"][1]["target"] == "W1 bs32: fastnn on 2 threads >= 1.7x 1 thread"
    assert any("round 2" in line for line in logged)


def test_only_w3_reseeds_its_rounds(quick_run):
    result, _, _ = quick_run
    for workload in result["workloads"]:
        seeds = [r["seed"] for r in workload["rounds"]]
        if workload["id"].startswith("W3"):
            assert seeds == [0, 1] and workload["seed_per_round"]
            for row in workload["rows"]:  # the warm-up fit is no round
                assert [e["seed"] for e in row["round_extras"]] == [0, 1]
        else:
            assert seeds == [None, None] and "seed_per_round" not in workload
            assert all(row["round_extras"] == [] for row in workload["rows"])


@pytest.fixture(scope="module")
def w3_run():
    """W3 alone, fastnn against scikit-learn, three rounds (inline: a few seconds)."""
    return benchmark.run(quick=True, peers=["fastnn", "sklearn"], only=["W3"], sizes=TINY,
                         rounds=3, inline=True, log=lambda line: None)


def test_w3_rounds_use_the_same_seeds_for_every_implementation(w3_run):
    for workload in w3_run["workloads"]:
        assert [r["seed"] for r in workload["rounds"]] == [0, 1, 2]
        labels = [r["label"] for r in workload["rows"]]
        assert sum(label.startswith("scikit-learn") for label in labels) == 1
        for row in workload["rows"]:
            assert row["error"] is None and len(row["seconds"]) == 3
            assert [e["seed"] for e in row["round_extras"]] == [0, 1, 2]


@pytest.mark.parametrize("peer", ["fastnn", "sklearn"])
def test_reseed_sets_the_shuffle_seed_of_the_timed_fit_only(peer):
    """The run message's seed reaches the estimator; the data do not change with it."""
    [spec] = [w["spec"] for w in benchmark.workloads({**benchmark.QUICK, **TINY})
              if w["id"] == "W3 perceptron"]
    host = _benchmark_host.Host(peer)
    host.handle(("prepare", "W3", "perceptron", spec))
    impl = host.built["W3"][0]
    X = impl.X.copy()
    fits = {}
    for seed in (0, 1, 0):
        assert host.handle(("run", "W3", 0, seed))["error"] is None
        assert impl.est.random_state == seed
        coef = impl.est.coef_.copy()
        if seed in fits:  # a seed's run repeated gives the same fit
            np.testing.assert_array_equal(coef, fits[seed])
        fits[seed] = coef
    assert not np.array_equal(fits[0], fits[1])
    np.testing.assert_array_equal(impl.X, X)


@pytest.mark.parametrize("impl", [FastnnTrain, FastnnMLPClassifier])
def test_warm_up_compiles_the_path_of_the_timed_runs(impl, monkeypatch):
    """A timed epoch of many batches runs fused: the warm-up must run it too.

    Before, the warm-up ran a few batches, stepwise, and round 1 of W1 bs32 and
    W5 compiled the fused epoch inside its timer (2-7 s, cold cache).
    """
    paths = []
    train_epoch = fastnn.Network._train_epoch

    def spy(self, *args, **kwargs):  # run_epoch passes stepwise as its 9th argument
        paths.append(args[8] if len(args) > 8 else kwargs.get("stepwise", False))
        return train_epoch(self, *args, **kwargs)

    monkeypatch.setattr(fastnn.Network, "_train_epoch", spy)
    # 300 batches (more than training.STEPWISE_MAX_BATCHES) of a network too
    # big for the small-network path.
    spec = {"n": 300, "layers": [20, 16, 3], "dtype": "float32", "batch_size": 1,
            "lr": 0.01, "seed": 0}
    peer = impl(spec)
    warmed, paths[:] = set(paths), []
    peer.run()
    assert paths and set(paths) == {False}
    assert False in warmed
    assert fastnn.training.STEPWISE_MAX_BATCHES == 256  # restored after the warm-up


@pytest.mark.parametrize("impl", [FastnnForward, FastnnPredictProba])
def test_inference_warm_up_runs_the_blocks_path_when_the_timed_runs_do(impl, monkeypatch):
    """From 2,048 rows ``forward`` runs ``trainer.forward_in_blocks``: a warm-up on
    fewer rows left it to compile in round 1 (15 s, cold cache)."""
    calls = []
    blocks = fastnn.Network._forward_in_blocks

    def spy(self, *args):
        calls.append(args[2].shape[0])  # (kernel, n_workers, X, ...)
        return blocks(self, *args)

    monkeypatch.setattr(fastnn.Network, "_forward_in_blocks", spy)
    peer = impl({"n": 2100, "layers": [20, 16, 3], "dtype": "float32", "lr": 0.01, "seed": 0,
                 "batch_size": 32})
    warmed, calls[:] = list(calls), []
    peer.run()
    assert calls == warmed == [2100]


def test_w3_accuracy_is_the_mean_over_the_rounds(w3_run):
    text = benchmark.markdown(w3_run)
    for workload in w3_run["workloads"]:
        for row in workload["rows"]:
            accuracies = [e["accuracy"] for e in row["round_extras"]]
            assert row["extras"] == {
                "accuracy": pytest.approx(np.mean(accuracies)), "seeds": [0, 1, 2],
                "accuracy_min": min(accuracies), "accuracy_max": max(accuracies)}
            cell = (f"{100 * np.mean(accuracies):.2f} % ({100 * min(accuracies):.2f}-"
                    f"{100 * max(accuracies):.2f})")
            assert f"| {cell} |" in text
    assert "the mean test accuracy over the rounds" in text
    assert [t["target"].split(":")[0] for t in w3_run["targets"]] == [
        "W3 perceptron", "W3 logistic"]
    assert all("over seeds 0-2" in t["measured"] for t in w3_run["targets"])


def _w3_result(fastnn_accuracies, sklearn_accuracies, speedup=6.0):
    """A result holding only W3 perceptron, per-seed accuracies given as {seed: value}."""
    def row(peer, label, rate, accuracies):
        round_extras = [{"seed": s, "accuracy": a} for s, a in accuracies.items()]
        return {"peer": peer, "label": label, "samples_per_s": rate, "round_extras": round_extras,
                "extras": _benchmark_report.mean_extras(round_extras)}

    return {"workloads": [{"id": "W3 perceptron", "rows": [
        row("fastnn", "fastnn Perceptron", speedup, fastnn_accuracies),
        row("sklearn", "scikit-learn Perceptron", 1.0, sklearn_accuracies)]}]}


@pytest.mark.parametrize("fastnn_acc, sklearn_acc, met", [
    # seed 0 alone differs by 0.73 points, the means by 0.1: equal accuracy
    ({0: 0.8584, 1: 0.848, 2: 0.851}, {0: 0.8511, 1: 0.856, 2: 0.847}, True),
    # seed 0 alone agrees, the means differ by 0.6 points
    ({0: 0.851, 1: 0.848, 2: 0.847}, {0: 0.851, 1: 0.857, 2: 0.856}, False),
    # scikit-learn stopped after seed 0: compared on seed 0 only (0.2 points)
    ({0: 0.853, 1: 0.860, 2: 0.862}, {0: 0.851}, True),
])
def test_w3_target_compares_mean_accuracies(fastnn_acc, sklearn_acc, met):
    [target] = _benchmark_report.issue_targets(_w3_result(fastnn_acc, sklearn_acc))
    common = sorted(set(fastnn_acc) & set(sklearn_acc))
    means = [100 * np.mean([acc[s] for s in common]) for acc in (fastnn_acc, sklearn_acc)]
    assert target["met"] is met
    assert f"mean accuracy {means[0]:.2f} % vs {means[1]:.2f} %" in target["measured"]
    [target] = _benchmark_report.issue_targets(_w3_result(fastnn_acc, sklearn_acc, speedup=4.0))
    assert target["met"] is False  # equal accuracy is not enough without 5x


def test_png_written_when_matplotlib_is_installed(quick_run, tmp_path):
    pytest.importorskip("matplotlib")
    result, _, _ = quick_run
    paths = benchmark.write(result, tmp_path, png=True)
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_arguments(capsys):
    with pytest.raises(ValueError, match="unknown peers"):
        benchmark.run(peers=["fastnn", "tensorflow"])
    with pytest.raises(ValueError, match="no workload"):
        benchmark.run(peers=["numpy"], only=["W9"], sizes=TINY, inline=True)
    assert benchmark.main(["--peers", "nope", "--out", "unused"]) == 2
    with pytest.raises(ValueError, match="rounds must be an integer >= 1, got 0"):
        benchmark.run(rounds=0)
    with pytest.raises(ValueError, match="max_foreign must be >= 0"):
        benchmark.run(max_foreign=-1)
    capsys.readouterr()
    assert benchmark.main(["--peers", "", "--out", "unused"]) == 2
    assert "no peers chosen" in capsys.readouterr().err
    # usage errors naming the option, before any timing (0 rounds wrote an empty report,
    # an empty item was dropped, an infinite --max-foreign counted every run as calm)
    for args, message in [(["--rounds", "0"], "--rounds: expected an integer >= 1, got '0'"),
                          (["--rounds", "-2"], "--rounds: expected an integer >= 1, got '-2'"),
                          (["--peers", ","], "--peers: expected comma-separated names"),
                          (["--peers", "numpy,,torch"], "(item 2 is empty)"),
                          (["--workloads", "W1,"], "--workloads: expected comma-separated"),
                          (["--max-foreign", "-1"], "--max-foreign: expected a finite number"),
                          (["--max-foreign", "inf"], "--max-foreign: expected a finite number"),
                          (["--max-foreign", "nan"], "--max-foreign: expected a finite number")]:
        with pytest.raises(SystemExit) as exit_info:
            benchmark.main([*args, "--out", "unused"])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err, args


def test_unwritable_out_is_refused_before_the_run(tmp_path, monkeypatch, capsys):
    def run(**kwargs):
        raise AssertionError("the benchmark ran before --out was checked")

    monkeypatch.setattr(benchmark, "run", run)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for out in (blocker, blocker / "results"):
        assert benchmark.main(["--quick", "--out", str(out)]) == 2
        assert "cannot write the results to --out" in capsys.readouterr().err


def test_fastnn_bench_subcommand(capsys):
    from fastnn.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--help"])
    assert exit_info.value.code == 0
    assert "--quick" in capsys.readouterr().out
    assert main(["bench", "--peers", "fastnn,nope"]) == 2
    assert "unknown peers ['nope']" in capsys.readouterr().err

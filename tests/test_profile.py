"""fastnn.profile: phases and layers are all accounted for, FLOPs are exact."""
import numpy as np

import fastnn
from fastnn.profile import profile


def test_profile_reports_every_phase_and_exact_flops():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 6))
    Y = np.eye(3)[rng.integers(0, 3, 100)]
    net = fastnn.Network([6, 5, 4, 3], "tanh", dtype=np.float64, random_state=0)
    result = profile(net, X, Y, batch_size=32, roof=False)
    assert list(result.phases) == ["gather", "forward", "loss", "backward", "update"]
    assert all(seconds > 0 for seconds in result.phases.values())
    assert result.fused_seconds > 0 and len(result.layers) == 3
    # forward 2*n*sum(in*out); weight gradients the same; input gradients for layers 1 and 2
    expected = 2 * 100 * (6 * 5 + 5 * 4 + 4 * 3) * 2 + 2 * 100 * (5 * 4 + 4 * 3)
    assert abs(result.gflop * 1e9 - expected) < 1e-3
    assert "| backward |" in result.table() and "GFLOP/s" in result.table()
    assert np.isfinite(net.params).all()


def test_profile_command(capsys):
    from fastnn.__main__ import main

    assert main(["profile", "--samples", "200", "--layers", "20,16,4", "--batch-size", "50",
                 "--dtype", "float64"]) == 0
    out = capsys.readouterr().out
    assert "| forward |" in out and "of the measured roof" in out

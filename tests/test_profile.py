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
    assert result.fused_seconds > 0 and result.products_seconds > 0 and len(result.layers) == 3
    # forward 2*n*sum(in*out); weight gradients the same; input gradients for layers 1 and 2
    expected = 2 * 100 * (6 * 5 + 5 * 4 + 4 * 3) * 2 + 2 * 100 * (5 * 4 + 4 * 3)
    assert abs(result.gflop * 1e9 - expected) < 1e-3
    assert "| backward |" in result.table() and "GFLOP/s" in result.table()
    assert "matrix products alone" in result.table()
    assert np.isfinite(net.params).all()


def test_matrix_products_are_the_epochs_products_and_leave_params_alone():
    """The profile's products-only pass: each batch's forward, input- and weight-gradient
    products of the workspace's contents, weight gradients into the given buffer."""
    from fastnn.kernels import trainer

    rng = np.random.default_rng(1)
    net = fastnn.Network([6, 5, 4, 3], dtype=np.float64, random_state=0)
    n = 7
    buffers = net._workspace_for(n).buffers
    for buffer in (buffers[0], buffers[1], buffers[3]):
        buffer[:] = rng.standard_normal(buffer.shape)
    params, scratch = net.params.copy(), np.zeros_like(net.grads)
    inputs = net._workspace_for(n).rows(3, n, 6).copy()
    output_delta = net._workspace_for(n).layer(1, 2, n, 3).copy()
    assert trainer.family(False).matrix_products(net.params, scratch, net._net, buffers, n, 2) == 0
    np.testing.assert_array_equal(net.params, params)
    # forward: pre-activations only (no bias, no activation)
    a0 = inputs @ net.coefs[0]
    a1 = a0 @ net.coefs[1]
    # backward from the output delta, without activation derivatives
    d1 = output_delta @ net.coefs[2].T
    d0 = d1 @ net.coefs[1].T
    np.testing.assert_allclose(net._workspace_for(n).layer(0, 1, n, 4), a1, rtol=1e-12)
    weight_grads = [inputs.T @ d0, a0.T @ d1, a1.T @ output_delta]
    for got, want in zip(fastnn.network._layer_views(scratch, [(6, 5), (5, 4), (4, 3)])[0],
                         weight_grads):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_profile_command(capsys):
    from fastnn.__main__ import main

    assert main(["profile", "--samples", "200", "--layers", "20,16,4", "--batch-size", "50",
                 "--dtype", "float64"]) == 0
    out = capsys.readouterr().out
    assert "| forward |" in out and "of the measured roof" in out

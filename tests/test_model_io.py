"""fastnn.save / fastnn.load: bit-identical round trips, continued training, hostile files."""
import io
import json
import pickle
import warnings
import zipfile

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import NotFittedError
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.preprocessing import StandardScaler

import fastnn
from fastnn import MLPClassifier, MLPRegressor, Perceptron, SGDClassifier
from fastnn.model_io import ModelFileError

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _models(X, y):
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    weights = {"setosa": 1.0, "versicolor": 2.0, "virginica": 0.5}
    yield (MLPClassifier(hidden_layer_sizes=(7,), max_iter=5, random_state=0),
           X.astype(np.float32), y)
    yield (MLPClassifier(hidden_layer_sizes=(6, 5), activation=["tanh", "sigmoid"], solver="sgd",
                         max_iter=8, early_stopping=True, class_weight=weights, sigmoid_a=2.0,
                         random_state=1), X, names.astype(object))
    yield MLPClassifier(hidden_layer_sizes=(4,), max_iter=4, random_state=0), X, y == 1
    yield (MLPClassifier(hidden_layer_sizes=(5,), max_iter=4, random_state=0), X,
           np.stack([y == 1, y == 2], 1).astype(int))  # multilabel
    yield (MLPRegressor(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=20, random_state=0),
           X, np.stack([X[:, 0], X[:, 1] - X[:, 2]], 1))
    yield (MLPRegressor(hidden_layer_sizes=(5,), solver="sgd", max_iter=4, random_state=0),
           X, X[:, 0])
    yield Perceptron(penalty="l2", random_state=3), X.astype(np.float32), names
    yield Perceptron(max_iter=5, tol=None), X, y == 2
    yield SGDClassifier(loss="log_loss", max_iter=5, tol=None, random_state=0), X, y
    yield (SGDClassifier(loss="modified_huber", penalty=None, learning_rate="invscaling",
                         eta0=0.1, max_iter=5, tol=None, random_state=1),
           X.astype(np.float32), y == 1)


@pytest.mark.parametrize("index", range(10))
def test_round_trip_is_bit_identical(index, iris, tmp_path):
    model, X, y = list(_models(*iris))[index]
    model.fit(X, y)
    path = fastnn.save(model, tmp_path / "model.fastnn")
    assert path == tmp_path / "model.fastnn" and path.exists()  # no extension appended
    loaded = fastnn.load(path)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    assert type(loaded.get_params()["random_state"]) is type(model.random_state)
    for method in ("predict", "predict_proba", "decision_function"):
        if hasattr(model, method):
            expected = getattr(model, method)(X)
            np.testing.assert_array_equal(getattr(loaded, method)(X), expected)
            assert getattr(loaded, method)(X).dtype == expected.dtype
    assert loaded.score(X, y) == model.score(X, y)
    if hasattr(model, "classes_"):
        assert loaded.classes_.dtype == model.classes_.dtype
        np.testing.assert_array_equal(loaded.classes_, model.classes_)
    for name in ("n_iter_", "t_", "n_features_in_", "loss_curve_", "gradient_norms_",
                 "validation_scores_", "validation_loss_curve_", "best_loss_", "loss_",
                 "n_layers_", "n_outputs_", "out_activation_"):
        if hasattr(model, name):
            assert getattr(loaded, name) == getattr(model, name), name


def test_dataframe_feature_names_round_trip(iris, tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = iris
    frame = pd.DataFrame(X, columns=["sl", "sw", "pl", "pw"])
    for model in (MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0),
                  Perceptron()):
        model.fit(frame, y)
        loaded = fastnn.load(fastnn.save(model, tmp_path / "m.npz"))
        np.testing.assert_array_equal(loaded.feature_names_in_, model.feature_names_in_)
        assert loaded.feature_names_in_.dtype == object
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no "fitted without feature names" warning
            np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_partial_fit_continues_exactly(solver, iris, tmp_path):
    X, y = iris
    model = MLPClassifier(hidden_layer_sizes=(8,), solver=solver, learning_rate="invscaling",
                          max_iter=6, random_state=0).fit(X, y)
    loaded = fastnn.load(fastnn.save(model, tmp_path / "m.npz"))
    for _ in range(3):
        model.partial_fit(X, y)
        loaded.partial_fit(X, y)
    np.testing.assert_array_equal(loaded._network.params, model._network.params)
    assert loaded.loss_curve_ == model.loss_curve_ and loaded.t_ == model.t_
    assert loaded.coefs_[0] is loaded._network.coefs[0]


@pytest.mark.parametrize("cls", [Perceptron, SGDClassifier])
def test_linear_partial_fit_continues_exactly(cls, iris, tmp_path):
    X, y = iris
    model = cls(random_state=0).partial_fit(X, y, classes=[0, 1, 2])
    loaded = fastnn.load(fastnn.save(model, tmp_path / "p.npz"))
    model.partial_fit(X, y)
    loaded.partial_fit(X, y)
    np.testing.assert_array_equal(loaded.coef_, model.coef_)
    assert loaded.t_ == model.t_


def test_loaded_model_pickles_and_refits(iris, tmp_path):
    X, y = iris
    model = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, y)
    loaded = fastnn.load(fastnn.save(model, tmp_path / "m.npz"))
    again = pickle.loads(pickle.dumps(loaded))
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))
    assert loaded.fit(X, y).n_iter_ == 3


# ------------------------------------------------------------------ saving errors
def test_save_refuses_what_a_file_cannot_hold(iris, tmp_path):
    X, y = iris
    with pytest.raises(NotFittedError):
        fastnn.save(MLPClassifier(), tmp_path / "m.npz")
    with pytest.raises(TypeError, match="MLPClassifier, MLPRegressor, Perceptron"):
        fastnn.save(SklearnMLPClassifier(max_iter=2).fit(X, y), tmp_path / "m.npz")

    class Mine(MLPClassifier):
        pass

    with pytest.raises(TypeError, match="Mine"):
        fastnn.save(Mine(hidden_layer_sizes=(3,), max_iter=2).fit(X, y), tmp_path / "m.npz")
    model = MLPClassifier(hidden_layer_sizes=(3,), max_iter=2, callbacks=[lambda m, d: None])
    model.fit(X, y)
    with pytest.raises(ValueError, match=r"callbacks.*set_params\(callbacks=None\)"):
        fastnn.save(model, tmp_path / "m.npz")
    model.set_params(callbacks=None, random_state=np.random.RandomState(0))
    with pytest.raises(ValueError, match="random_state"):
        fastnn.save(model, tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind


def test_save_replaces_an_existing_file(iris, tmp_path):
    X, y = iris
    path = tmp_path / "m.npz"
    path.write_bytes(b"old")
    fastnn.save(Perceptron().fit(X, y), path)
    assert isinstance(fastnn.load(path), Perceptron)
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


# ------------------------------------------------------------------ hostile files
@pytest.fixture(scope="module")
def saved(iris, tmp_path_factory):
    X, y = iris
    model = MLPClassifier(hidden_layer_sizes=(5,), solver="sgd", max_iter=3,
                          random_state=0).fit(X, y)
    path = tmp_path_factory.mktemp("saved") / "model.npz"
    fastnn.save(model, path)
    return model, path


def _contents(path):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    return json.loads(arrays.pop("metadata").tobytes()), arrays


def _write(path, meta, arrays, **extra):
    blob = meta if isinstance(meta, bytes) else json.dumps(meta).encode()
    with open(path, "wb") as file:
        np.savez(file, metadata=np.frombuffer(blob, np.uint8), **arrays, **extra)
    return path


def _changed(saved, tmp_path, edit_meta=None, **arrays_changes):
    meta, arrays = _contents(saved[1])
    if edit_meta:
        edit_meta(meta)
    arrays.update(arrays_changes)
    return _write(tmp_path / "bad.npz", meta, {k: v for k, v in arrays.items() if v is not None})


def test_good_file_loads(saved):
    model, path = saved
    assert isinstance(fastnn.load(path), MLPClassifier)


@pytest.mark.parametrize("content, match", [
    (b"", "not a fastnn model file"),
    (b"garbage" * 100, "not a fastnn model file"),
    (pickle.dumps({"a": 1}), "not a fastnn model file"),
    (b"PK\x03\x04" + b"\x00" * 50, "truncated or corrupted"),
])
def test_not_a_model_file(content, match, tmp_path):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        fastnn.load(path)


def test_npy_and_foreign_npz_are_rejected(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(3.0))
    with pytest.raises(ValueError, match="not a fastnn model file"):
        fastnn.load(tmp_path / "a.npy")
    np.savez(tmp_path / "b.npz", X=np.ones((2, 2)))
    with pytest.raises(ValueError, match="unexpected member 'X.npy'"):
        fastnn.load(tmp_path / "b.npz")


def test_truncated_files(saved, tmp_path):
    data = saved[1].read_bytes()
    for size in (10, 100, len(data) // 2, len(data) - 30, len(data) - 1):
        path = tmp_path / f"cut{size}.npz"
        path.write_bytes(data[:size])
        with pytest.raises(ValueError, match="truncated or corrupted|not a fastnn"):
            fastnn.load(path)


def test_flipped_bytes_never_load_a_different_model(saved, tmp_path, iris):
    """Every 5th byte flipped in turn: an error, or (a byte zip ignores) the same model."""
    model, path = saved
    data = bytearray(path.read_bytes())
    expected = model.predict_proba(iris[0])
    errors = 0
    bad = tmp_path / "flipped.npz"
    for position in range(0, len(data), 5):
        data[position] ^= 0xFF
        bad.write_bytes(bytes(data))
        data[position] ^= 0xFF
        try:
            loaded = fastnn.load(bad)
        except ValueError:
            errors += 1
            continue
        np.testing.assert_array_equal(loaded.predict_proba(iris[0]), expected)
    assert errors > 0.8 * len(range(0, len(data), 5))  # the CRC-32 checks catch the data


@pytest.mark.parametrize("edit, match", [
    (lambda m: m.update(format_version=2), "format version 2.*reads format version 1"),
    (lambda m: m.update(format_version="1"), "format version"),
    (lambda m: m.update(format="something else"), "not a fastnn model file"),
    (lambda m: m.update({"class": "os.system"}), "unknown model class 'os.system'"),
    (lambda m: m.update({"class": "builtins.eval"}), "unknown model class"),
    (lambda m: m.update({"class": "sklearn.neural_network.MLPClassifier"}), "unknown model class"),
    (lambda m: m.update({"class": "Perceptron"}), "Perceptron"),
    (lambda m: m.update({"class": "MLPRegressor"}), "parameters of MLPRegressor differ"),
    (lambda m: m["params"].update(activation="swish"), "activation"),
    (lambda m: m["params"].update(evil={"dict": [[1, 2]]}), "unknown \\['evil'\\]"),
    (lambda m: m["params"].update(alpha={"pickle": "cos\nsystem"}), "unreadable value"),
    (lambda m: m["params"].update(hidden_layer_sizes=[6]), "do not match the parameters"),
    (lambda m: m["state"].update(layer_sizes=[4, 10**12, 3]), "array 'params' has shape"),
    (lambda m: m["state"].update(layer_sizes="4,5,3"), "layer_sizes"),
    (lambda m: m["state"].update(output="softmaxx"), "output"),
    (lambda m: m["state"].update(n_iter_=-1), "n_iter_"),
    (lambda m: m["state"].update(loss_curve_="x"), "loss_curve_"),
    (lambda m: m["state"].update(gradient_norms_=[[1.0]]), "row"),
    (lambda m: m["state"]["label_binarizer"]["dict"][0].__setitem__(1, "binary"),
     "binary targets"),
    (lambda m: m["state"]["optimizer"].update(kind="exec"), "optimizer"),
    (lambda m: m.update(dtype="object"), "dtype 'object'"),
    (lambda m: m.update(dtype="float32"), "array 'params' has shape .* dtype float64"),
    (lambda m: m.update(classes_dtype="<U5"), "classes are stored as"),
    (lambda m: m.pop("state"), "'state' is missing"),
])
def test_inconsistent_metadata(edit, match, saved, tmp_path):
    with pytest.raises(ValueError, match=match):
        fastnn.load(_changed(saved, tmp_path, edit))


@pytest.mark.parametrize("change, match", [
    (dict(params=np.zeros(3)), "array 'params' has shape \\(3,\\)"),
    (dict(params=None), "array 'params' is missing"),
    (dict(classes=None), "classes"),
    (dict(classes=np.array([0, 1, 2, 3])), "softmax output of 4 units"),
    (dict(optimizer_velocity=np.zeros(2)), "optimizer_velocity"),
    (dict(coef=np.zeros((3, 4))), "do not belong"),
    (dict(params=np.full(43, np.nan)), "NaN"),
])
def test_inconsistent_arrays(change, match, saved, tmp_path):
    with pytest.raises(ValueError, match=match):
        fastnn.load(_changed(saved, tmp_path, **change))


def test_bad_json(saved, tmp_path):
    _, arrays = _contents(saved[1])
    for blob, match in ((b"{not json", "truncated or corrupted"),
                        (b"\xff\xfe", "truncated or corrupted"),
                        (b'{"format": NaN}', "non-JSON constant NaN"),
                        (b"[" * 100000 + b"]" * 100000, "truncated or corrupted"),
                        (b"[1, 2]", "not a fastnn model file")):
        with pytest.raises(ValueError, match=match):
            fastnn.load(_write(tmp_path / "bad.npz", blob, arrays))
    meta, arrays = _contents(saved[1])
    with pytest.raises(ValueError, match="metadata.*not a byte array"):
        with open(tmp_path / "bad.npz", "wb") as file:
            np.savez(file, metadata=np.frombuffer(json.dumps(meta).encode(), np.int8), **arrays)
        fastnn.load(tmp_path / "bad.npz")


class _Payload:
    """Unpickling this would create a file: proof that loading ran code."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_object_array_with_pickle_is_never_unpickled(saved, tmp_path):
    meta, arrays = _contents(saved[1])
    sentinel = tmp_path / "pwned"
    payload = np.array([_Payload(sentinel)], dtype=object)
    for name in ("params", "classes", "feature_names"):
        changed = dict(arrays, **{name: payload})
        with open(tmp_path / "evil.npz", "wb") as file:
            np.savez(file, metadata=np.frombuffer(json.dumps(meta).encode(), np.uint8),
                     **changed)  # np.savez pickles object arrays
        with pytest.raises(ValueError, match="dtype object.*never objects"):
            fastnn.load(tmp_path / "evil.npz")
        assert not sentinel.exists()


def _npy(header: dict, data: bytes) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + data


def _zip(path, members: dict, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, blob in members.items():
            archive.writestr(name, blob)
    return path


def test_forged_headers(saved, tmp_path):
    """A huge declared shape is refused before anything is allocated; so are odd dtypes."""
    meta, arrays = _contents(saved[1])
    members = {f"{k}.npy": _npy({"descr": v.dtype.str, "fortran_order": False, "shape": v.shape},
                                v.tobytes()) for k, v in arrays.items()}
    members["metadata.npy"] = _npy({"descr": "|u1", "fortran_order": False,
                                    "shape": (len(json.dumps(meta)),)}, json.dumps(meta).encode())
    assert isinstance(fastnn.load(_zip(tmp_path / "ok.npz", members)), MLPClassifier)
    forged = [
        ({"descr": "<f8", "fortran_order": False, "shape": (10**15,)}, "declares shape"),
        ({"descr": "<f8", "fortran_order": False, "shape": (2**62, 2**62)}, "declares shape"),
        ({"descr": "<f8", "fortran_order": False, "shape": (-1,)}, "negative"),
        ({"descr": [("a", "<f8")], "fortran_order": False, "shape": (43,)}, "dtype"),
        ({"descr": "|V8", "fortran_order": False, "shape": (43,)}, "dtype"),
        ({"descr": "<M8[s]", "fortran_order": False, "shape": (43,)}, "dtype"),
    ]
    for header, match in forged:
        evil = dict(members, **{"params.npy": _npy(header, arrays["params"].tobytes())})
        with pytest.raises(ValueError, match=match):
            fastnn.load(_zip(tmp_path / "evil.npz", evil))
    text = members["params.npy"].replace(b"'shape': (43,)", b"'shape': __import__('os')")
    with pytest.raises(ValueError, match="truncated or corrupted"):
        fastnn.load(_zip(tmp_path / "evil.npz", dict(members, **{"params.npy": text})))
    with pytest.raises(ValueError, match="compressed"):
        fastnn.load(_zip(tmp_path / "zipped.npz", members, zipfile.ZIP_DEFLATED))
    with pytest.raises(ValueError, match="unexpected member 'run.py'"):
        fastnn.load(_zip(tmp_path / "extra.npz", dict(members, **{"run.py": b"print(1)"})))


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastnn.load(tmp_path / "nope.npz")
    assert issubclass(ModelFileError, ValueError)


# ------------------------------------------- save writes only what load accepts
@pytest.mark.parametrize("cls, fit_params, changed, match", [
    (MLPClassifier, dict(hidden_layer_sizes=(4,)), dict(hidden_layer_sizes=(8,)),
     "hidden_layer_sizes"),
    (MLPClassifier, dict(hidden_layer_sizes=(4,)), dict(activation="tanh"), "activation"),
    (MLPClassifier, dict(hidden_layer_sizes=(4,)), dict(activation="bogus"), "activation"),
    (MLPClassifier, dict(hidden_layer_sizes=(4,)), dict(solver="bogus"), "solver"),
    (MLPRegressor, dict(hidden_layer_sizes=(4,)), dict(alpha=-1.0), "alpha"),
    (MLPClassifier, dict(hidden_layer_sizes=(4,)), dict(max_iter=0), "max_iter"),
    (MLPClassifier, dict(hidden_layer_sizes=(4,)), dict(sigmoid_a=float("nan")), "sigmoid_a"),
    (Perceptron, {}, dict(penalty="l1"), "penalty"),
    (SGDClassifier, {}, dict(penalty="l1"), "penalty"),
    (SGDClassifier, {}, dict(loss="bogus"), "loss"),
    (SGDClassifier, {}, dict(average=True), "average"),
])
def test_save_refuses_parameters_load_would_reject(cls, fit_params, changed, match, iris,
                                                   tmp_path):
    X, y = iris
    model = cls(max_iter=3, random_state=0, **fit_params).fit(X, y if cls is not MLPRegressor
                                                               else X[:, 0])
    model.set_params(**changed)
    with pytest.raises(ValueError, match=match):
        fastnn.save(model, tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary file


def test_save_accepts_what_it_wrote_before(iris, tmp_path):
    X, y = iris
    for model, X_fit, y_fit in _models(X, y):
        model.fit(X_fit, y_fit)
        fastnn.load(fastnn.save(model, tmp_path / "m.npz"))


def test_save_stores_assigned_coefs(iris, tmp_path):
    X, y = iris
    model = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, y)
    model.coefs_[1] = np.zeros_like(model.coefs_[1])  # a new array, not written in place
    model.intercepts_ = [b + 1.0 for b in model.intercepts_]
    loaded = fastnn.load(fastnn.save(model, tmp_path / "m.npz"))
    np.testing.assert_array_equal(loaded.coefs_[1], 0.0)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def _set(encoded: dict, key, value) -> None:
    """Set ``key`` in a dict as a model file encodes it: {"dict": [[key, value], ...]}."""
    pairs = encoded["dict"]
    index = [k for k, _ in pairs].index(key)
    pairs[index][1] = value


@pytest.mark.parametrize("edit, match", [
    (lambda m: _set(m["state"]["label_binarizer"], "pos_label", 5), "pos_label"),
    (lambda m: _set(m["state"]["label_binarizer"], "neg_label", -1), "neg_label"),
    (lambda m: _set(m["state"]["optimizer"], "t", 10**30), "attribute t "),
    (lambda m: m["state"].update(t_=10**30), "attribute t_"),
    # partial_fit compared the loss with None - tol after the first epoch's updates
    (lambda m: m["state"].update(best_loss_=None), "attribute best_loss_"),
    (lambda m: m["state"].pop("best_loss_"), "attribute best_loss_"),
    (lambda m: m["state"].update(best_loss_={"float": "nan"}), "attribute best_loss_"),
])
def test_hand_edited_values_that_misbehave_later(edit, match, iris, tmp_path):
    X, y = iris
    model = MLPClassifier(hidden_layer_sizes=(3,), max_iter=3, random_state=0).fit(X, y == 1)
    path = fastnn.save(model, tmp_path / "m.npz")
    meta, arrays = _contents(path)
    edit(meta)
    with pytest.raises(ValueError, match=match):
        fastnn.load(_write(tmp_path / "bad.npz", meta, arrays))


@pytest.mark.parametrize("name", ["validation_loss_curve_", "best_validation_score_"])
def test_early_stopping_record_must_be_complete(name, iris, tmp_path):
    """A model fitted with early stopping continues its record on a warm-start fit, which
    appended to a None validation_loss_curve_ (AttributeError) after changing the weights."""
    X, y = iris
    model = MLPClassifier(hidden_layer_sizes=(3,), max_iter=3, early_stopping=True,
                          random_state=0).fit(X, y)
    meta, arrays = _contents(fastnn.save(model, tmp_path / "m.npz"))
    meta["state"][name] = None
    with pytest.raises(ValueError, match=f"attribute {name} = None"):
        fastnn.load(_write(tmp_path / "bad.npz", meta, arrays))


@pytest.mark.parametrize("classes", [np.array([2, 0, 1]), np.array([0, 1, 1])])
def test_unsorted_or_duplicate_classes_are_rejected(classes, saved, tmp_path):
    with pytest.raises(ValueError, match="not sorted and unique"):
        fastnn.load(_changed(saved, tmp_path, classes=classes))


@pytest.mark.parametrize("t_", [float("inf"), 1e300, 0, 0.5])
def test_linear_step_counter_must_be_finite_and_bounded(t_, iris, tmp_path):
    """Also at least 1, where it starts: t_ = 0 loaded, and partial_fit with the
    'invscaling' rate divided by 0 and failed as an overflow blamed on the data."""
    X, y = iris
    path = fastnn.save(Perceptron(max_iter=3, random_state=0).fit(X, y), tmp_path / "m.npz")
    meta, arrays = _contents(path)
    meta["state"]["t_"] = t_ if np.isfinite(t_) else {"float": "inf"}
    with pytest.raises(ValueError, match="attribute t_"):
        fastnn.load(_write(tmp_path / "bad.npz", meta, arrays))


def test_labels_ending_in_nul_characters_are_refused(tmp_path):
    """NumPy's unicode arrays strip trailing NULs: saved, 'a' and 'a\\x00' became one class."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = np.array(["a", "a\x00"] * 20, dtype=object)
    model = fastnn.Perceptron(max_iter=3, random_state=0).fit(X, y)
    assert len(model.classes_) == 2
    with pytest.raises(ValueError, match="NUL characters"):
        fastnn.save(model, tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


def test_perceptron_file_from_before_shuffle_block_loads(iris, tmp_path):
    """The first model files (2026-11-28) predate Perceptron's shuffle_block: load refused
    them ("missing ['shuffle_block']").  They load with the uniform shuffle they trained
    with; a file of any other class missing a parameter is still refused."""
    X, y = iris
    model = Perceptron(max_iter=5, tol=None).fit(X, y)
    meta, arrays = _contents(fastnn.save(model, tmp_path / "new.npz"))
    del meta["params"]["shuffle_block"]
    loaded = fastnn.load(_write(tmp_path / "old.npz", meta, arrays))
    assert loaded.shuffle_block == 1
    np.testing.assert_array_equal(loaded.decision_function(X), model.decision_function(X))
    loaded.partial_fit(X, y)  # and trains on

    meta, arrays = _contents(fastnn.save(SGDClassifier(max_iter=5, tol=None).fit(X, y),
                                         tmp_path / "sgd.npz"))
    del meta["params"]["shuffle_block"]
    with pytest.raises(ValueError, match="missing \\['shuffle_block'\\]"):
        fastnn.load(_write(tmp_path / "bad.npz", meta, arrays))


def test_a_path_that_cannot_be_written_is_named(iris, tmp_path):
    """The error named the temporary file beside it ('.m.npz.x566r7fe.tmp')."""
    X, y = iris
    model = Perceptron(max_iter=5, tol=None).fit(X, y)
    with pytest.raises(FileNotFoundError, match=f"'{tmp_path / 'missing' / 'm.npz'}'$"):
        fastnn.save(model, tmp_path / "missing" / "m.npz")
    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError, match=f"'{tmp_path / 'folder'}'$"):
        fastnn.save(model, tmp_path / "folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]  # no temporary left


def test_an_mlp_saved_with_more_threads_than_this_machine_has_loads(saved, iris, tmp_path):
    """n_threads=16 from a bigger machine: 'cannot rebuild the MLPClassifier it holds:
    n_threads == 16, must be <= 2', so the file could not be read here.  It loads as saved
    and runs on every thread of this machine, as the linear models do."""
    from fastnn import threading_info

    most = threading_info()["max_threads"]
    path = _changed(saved, tmp_path, lambda m: m["params"].update(n_threads=most + 14))
    loaded = fastnn.load(path)
    assert loaded.n_threads == most + 14
    np.testing.assert_array_equal(loaded.predict_proba(iris[0]), saved[0].predict_proba(iris[0]))


@pytest.mark.parametrize("activation, name, value", [("logistic", "sigmoid_a", 3.0),
                                                     ("leaky_relu", "leaky_slope", 0.2)])
def test_save_refuses_a_unit_parameter_the_network_was_not_fitted_with(activation, name, value,
                                                                       iris, tmp_path):
    """set_params(sigmoid_a=3) on a fitted logistic model wrote sigmoid_a=3 beside the
    network's 1.0: the loaded model predicted with 1.0 and its partial_fit refused the
    mismatch.  save now refuses it, as it refuses a changed activation; set back, the
    model saves and loads as it predicts; on units that do not use it, it is saved as set."""
    X, y = iris
    model = MLPClassifier(hidden_layer_sizes=(4,), activation=activation, max_iter=3,
                          random_state=0).fit(X, y)
    fitted_value = getattr(model, name)
    model.set_params(**{name: value})
    with pytest.raises(ModelFileError, match=f"{name}={value!r}"):
        fastnn.save(model, tmp_path / "model.npz")
    assert not list(tmp_path.iterdir())
    model.set_params(**{name: fitted_value})
    loaded = fastnn.load(fastnn.save(model, tmp_path / "model.npz"))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    other = MLPClassifier(hidden_layer_sizes=(4,), activation="tanh", max_iter=3,
                          random_state=0).fit(X, y).set_params(**{name: value})
    loaded = fastnn.load(fastnn.save(other, tmp_path / "other.npz"))
    assert getattr(loaded, name) == value
    loaded.partial_fit(X, y)


@pytest.mark.parametrize("change", [{"activation": "tanh"}, {"activation": ["relu", "tanh"]},
                                    {"sigmoid_a": 2.0}])
def test_save_names_a_unit_parameter_changed_since_fitting_as_predict_does(change, iris,
                                                                          tmp_path):
    """save and predict refuse an activation, sigmoid_a or leaky_slope changed by set_params
    after fitting with one check (save had its own activation check beside predict's):
    'cannot save: ' and the same words as predict's."""
    X, y = iris
    model = MLPClassifier(hidden_layer_sizes=(5, 4), activation="logistic", max_iter=3,
                          random_state=0).fit(X, y)
    model.set_params(**change)
    with pytest.raises(ValueError, match="set_params after fitting") as predicted:
        model.predict(X)
    with pytest.raises(ModelFileError) as saved:
        fastnn.save(model, tmp_path / "model.npz")
    mismatch = str(predicted.value).split(" (set_params after fitting)")[0]
    name, value = next(iter(change.items()))
    assert f"{name}={value!r}" in mismatch
    assert str(saved.value) == f"cannot save: {mismatch}; set it back or refit"
    assert not list(tmp_path.iterdir())


def test_load_draws_no_random_weights(tmp_path, monkeypatch):
    """load builds the network from the file's parameters (params=): it drew random initial
    weights and then overwrote them."""
    X, y = np.random.default_rng(0).random((40, 3)), np.arange(40) % 2
    model = fastnn.MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)
    fastnn.save(model, tmp_path / "m.npz")

    def drawn(self, random_state=None):
        raise AssertionError("random initial weights drawn")

    monkeypatch.setattr(fastnn.Network, "initialize", drawn)
    loaded = fastnn.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))

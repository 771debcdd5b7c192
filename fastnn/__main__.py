"""Command line: ``fastnn digits|demo|train|predict|profile|bench`` (or ``python -m fastnn``).

``fastnn`` alone runs ``digits``: a small MLP on scikit-learn's digits data
set (it ships with scikit-learn; no download), printing loss, accuracy and
time.  ``demo`` runs the course's steps (fastnn/demo.py); ``train`` and
``predict`` work on data files (fastnn/cli.py); ``profile`` shows where an
epoch's time goes (fastnn/profile.py); ``bench`` compares fastnn with its peers
(fastnn/benchmark.py).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def _digits(args: argparse.Namespace) -> int:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    import fastnn

    dtype = np.dtype(args.dtype)
    X, labels = load_digits(return_X_y=True)
    X = (X / 16.0).astype(dtype)  # pixel intensities 0..16 -> [0, 1]
    X_train, X_test, y_train, y_test = train_test_split(
        X, labels, test_size=0.25, random_state=args.seed, stratify=labels)
    Y_train = np.eye(10, dtype=dtype)[y_train]

    if args.threads:
        fastnn.set_num_threads(args.threads)
    hidden = list(args.hidden)
    net = fastnn.Network([X.shape[1], *hidden, 10], args.activation, "softmax",
                         dtype=dtype, random_state=args.seed)
    optimizer = fastnn.SGD(net, lr=args.lr, momentum=0.9, nesterov=True)
    print(f"fastnn {fastnn.__version__}: {net}")
    print(f"digits: {len(X_train)} training and {len(X_test)} test images, "
          f"{args.epochs} epochs of mini-batch SGD (batch {args.batch_size}, lr {args.lr}, "
          f"Nesterov momentum 0.9)")

    losses = []

    def report(epoch: int, loss: float) -> None:
        losses.append(loss)
        if (epoch + 1) % max(1, args.epochs // 10) == 0 or epoch == 0:
            print(f"  epoch {epoch + 1:4d}  loss {loss:.4f}")

    start = time.perf_counter()
    fastnn.train(net, X_train, Y_train, optimizer=optimizer, epochs=args.epochs,
                 batch_size=args.batch_size, random_state=args.seed, callback=report)
    seconds = time.perf_counter() - start
    accuracy = float(np.mean(net.predict(X_test) == y_test))
    info = fastnn.threading_info()
    print(f"test accuracy {accuracy:.2%}; training took {seconds:.2f} s "
          f"(a first run also compiles the kernels) on {info['n_threads']} threads, "
          f"threading layer {info['threading_layer']}")
    _warn_if_nothing_learned(net, X_train, y_train, args.lr, losses)
    return 0


def _warn_if_nothing_learned(net, X, labels, lr: float, losses: list[float]) -> None:
    """Say so on stderr when the trained network does no better on its own training
    images than always answering their most frequent class.

    A rate far too large can leave every ReLU unit dead (or the softmax saturated) with a
    finite loss: no TrainingDiverged, yet a network that answers one class (10 % on the
    digits).  Any network that learned something beats the majority share on the rows it
    was trained on, so this never warns about a working one.
    """
    predictions = net.predict(X)
    accuracy = float(np.mean(predictions == labels))
    majority = np.bincount(labels).max() / len(labels)
    if accuracy > majority:
        return
    answers = np.unique(predictions)
    what = (f"it answers {answers[0]} for every image" if len(answers) == 1
            else f"it answers only {len(answers)} of the 10 digits")
    print(f"fastnn digits: warning: the network learned nothing: training accuracy "
          f"{accuracy:.2%}, no better than always answering the most frequent digit "
          f"({majority:.2%}); {what}. The loss went from {losses[0]:.4g} (epoch 1) to "
          f"{losses[-1]:.4g} (epoch {len(losses)}): a --lr too large (here {lr:g}) can "
          f"silence every unit, one too small leaves the network as it started",
          file=sys.stderr)


def _demo(args: argparse.Namespace) -> int:
    from . import demo

    demo.run(args.steps, args.out)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fastnn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    digits = sub.add_parser("digits", help="train an MLP on scikit-learn's digits (default)")
    digits.add_argument("--epochs", type=_positive_int, default=30,
                        help="passes over the training images (default: 30)")
    digits.add_argument("--batch-size", type=_positive_int, default=32,
                        help="rows per SGD step (default: 32)")
    digits.add_argument("--hidden", type=_hidden, default=(64,),
                        help="hidden layer sizes, comma separated (default: 64)")
    digits.add_argument("--activation", default="relu", type=_activation,
                        help="of the hidden layers: relu, tanh, sigmoid, ... (default: relu)")
    digits.add_argument("--lr", type=_positive_float, default=0.05,
                        help="SGD's learning rate, with Nesterov momentum 0.9 (default: 0.05)")
    digits.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                        help="(default: float32)")
    digits.add_argument("--threads", type=_threads, default=0,
                        help="0 (default): fastnn's adaptive count, all cores or one, "
                             "whichever trains faster")
    digits.add_argument("--seed", type=_seed, default=0,
                        help="for the split, the initial weights and the shuffles (default: 0)")
    demo = sub.add_parser("demo", help="the basics of neural networks in five printed and "
                          "plotted steps", description=_demo_description(),
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    demo.add_argument("--out", default="fastnn-demo", help="folder for the PNGs "
                      "(default: fastnn-demo)")
    demo.add_argument("--steps", type=_steps, default=(1, 2, 3, 4, 5),
                      help="comma-separated steps to run, e.g. 1,3 (default: all)")
    from . import cli

    train = cli.add_train_parser(sub)
    cli.add_predict_parser(sub)
    from . import profile

    profile_parser = profile.add_parser(sub)
    from . import benchmark

    benchmark.add_parser(sub)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv or ["digits"])
    # options valid alone but not together: usage errors (exit 2) before any work
    together = {"train": (train, cli.check_train_options),
                "profile": (profile_parser, profile.check_options)}
    if args.command in together:
        command_parser, check = together[args.command]
        check(command_parser, args)
    commands = {"digits": _digits, "demo": _demo, "train": cli.train, "predict": cli.predict,
                "profile": profile.main, "bench": benchmark.command}
    if args.command in commands:
        try:
            return commands[args.command](args)
        except BrokenPipeError:
            # the reader of our output stopped early (`fastnn predict ... | head`): not an
            # error to report; point stdout at devnull so the exit's flush fails no more
            _silence_stdout()
            return 1
        # ArithmeticError: fastnn.TrainingDiverged (digits or profile with too large a rate)
        except (ValueError, OSError, ImportError, ArithmeticError) as exc:
            print(f"fastnn {args.command}: error: {exc}", file=sys.stderr)
            return 1
    parser.print_help()
    return 2


def _silence_stdout() -> None:
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by a file object without one
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _demo_description() -> str:
    from . import demo

    return "\n\n".join(demo.__doc__.split("\n\n")[:2]).replace("``", "'")


def _positive_int(text: str) -> int:
    from .cli import int_at_least

    return int_at_least(1, "a positive integer")(text)


def _seed(text: str) -> int:
    from .cli import seed

    return seed(text)


def _positive_float(text: str) -> float:
    from .cli import float_in

    return float_in(0, np.inf, "a positive finite number", low_inclusive=False)(text)


def _activation(text: str) -> str:
    from .kernels import ACTIVATION_CODES

    if text.strip() not in ACTIVATION_CODES:
        raise argparse.ArgumentTypeError(f"expected one of {sorted(ACTIVATION_CODES)}, "
                                         f"got {text!r}")
    return text.strip()


def _threads(text: str) -> int:
    from .cli import thread_count

    return thread_count(text)


def _hidden(text: str) -> tuple[int, ...]:
    from .cli import int_list

    return int_list(text)  # "3,,2" is an error, not 3,2


def _steps(text: str) -> tuple[int, ...]:
    from .cli import int_list

    steps = int_list(text, "steps from 1 to 5", "1,3")
    if not set(steps) <= {1, 2, 3, 4, 5}:
        raise argparse.ArgumentTypeError(f"steps are numbers from 1 to 5, e.g. 1,3; got {text!r}")
    return tuple(dict.fromkeys(steps))  # each once, in the order given ("1,1" ran step 1 twice)


if __name__ == "__main__":
    sys.exit(main())

"""bench/threads.py's parent side: its report from given timings (no child is started)."""
from bench import threads


def _result(seconds, foreign=0.0, n_threads=2):
    return {"warmup": 0.4, "times": [seconds], "foreign": [foreign], "loss": 2.3,
            "info": {"threading_layer": "omp", "n_threads": n_threads,
                     "omp_wait_policy": "PASSIVE"},
            "fastnn": "/site/fastnn/__init__.py"}


def _measured(skipped):
    seconds = {"a": 0.14, "b": 0.15, "c": 0.2, "d": 0.2, "t": 0.3, "e1": 0.12, "e2": 0.19,
               "e3": 0.1}
    runs = {key: ([] if key in skipped else [_result(seconds[key])])
            for key, *_ in threads.CONFIGS}
    return {"runs": runs, "gemm": [{"2": 0.13, "1": 0.18, "foreign": 0.0}], "waited": 0.0,
            "skipped": skipped}


def test_report_marks_an_optional_configuration_that_could_not_run():
    text = threads.report(_measured({"t": "ValueError: No threading layer could be loaded."}),
                          1, "python bench/threads.py --quick", 0.15, 20.0)
    row = next(line for line in text.splitlines() if line.startswith("| t |"))
    assert "not run: ValueError: No threading layer could be loaded." in row
    assert "- t (batch" not in text  # no epoch list for it
    assert "e2 / e3 = 1.90x" in text
    e2 = next(line for line in text.splitlines() if line.startswith("| e2 |"))
    assert "| 0.190 | 1.58 |" in e2  # ratio to the default at batch 512 (e1)


def test_report_with_every_configuration_run():
    text = threads.report(_measured({}), 1, "python bench/threads.py", 0.15, 20.0)
    assert "not run" not in text
    assert "| t | NUMBA_THREADING_LAYER=tbb (extra) | 128 | 0.300 | 2.14 |" in text


def test_error_line_finds_the_exception_in_a_traceback():
    text = ("child failed:\nTraceback (most recent call last):\n  File \"x\", line 1\n"
            "ValueError: No threading layer could be loaded.\nHINT:\n"
            "$ conda/pip install tbb\n")
    assert threads._error_line(text) == "ValueError: No threading layer could be loaded."
    assert threads._error_line("just a message\n") == "just a message"

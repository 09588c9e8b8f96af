"""Bisect: the search itself, and the command on real environments (torch 2.15.0 with two
onnxruntime releases, the same environments test_fanout builds)."""

import math
import sys

import pytest

from helpers import run_module
from matrix.bisect import bisect


def test_search_finds_the_first_changed_release_in_about_log2_steps():
    releases = [f"1.{n}.0" for n in range(17)]
    for change in range(1, len(releases)):
        asked = []

        def status_of(version, change=change, asked=asked):
            asked.append(version)
            return "export_error" if releases.index(version) < change else "pass"

        found = bisect(releases, status_of)
        assert (found["first_changed"], found["last_unchanged"]) == (releases[change], releases[change - 1])
        assert len(asked) == len(set(asked)) <= 2 + math.ceil(math.log2(len(releases) - 1))


def test_same_status_at_both_ends_is_said_and_nothing_is_searched():
    asked = []
    found = bisect(["1", "2", "3", "4"], lambda v: asked.append(v) or "pass")
    assert found["first_changed"] is None and asked == ["1", "4"]


@pytest.mark.network
@pytest.mark.slow
def test_command_says_when_good_and_bad_have_the_same_status(tmp_path):
    done = run_module("matrix", "bisect", "--case", "operators/tril", "--package", "onnxruntime",
                      "--good", "1.31.1", "--bad", "1.32.0", "--with", "torch==2.15.0", "--with", "onnx==1.23.2",
                      "--results", tmp_path, timeout=900)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "operators/tril is pass at both onnxruntime 1.31.1 and 1.32.0: nothing to bisect (2 environments)" \
        in done.stdout


def test_bad_versions_are_one_line():
    done = run_module("matrix", "bisect", "--case", "operators/tril", "--package", "torch", "--good", "2.11.7",
                      "--bad", "2.15.0")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert done.stderr.strip() == \
        f"matrix bisect: error: torch 2.11.7 is not a release with a wheel for python {python}"

"""Every fault the suite injects, and where docs/reliability.md says what it becomes.

id: (group, what is injected, the phrase docs/reliability.md documents it by)
tests/faults/test_documented.py checks each phrase is there and each id is injected."""

FAULTS = {
    # A case's native code misbehaves (tests/faults/test_native.py)
    "segfault": ("native", "a segfault (ctypes) in a case", "`crash` (SIGSEGV)"),
    "abort": ("native", "os.abort() in a case", "`crash` (SIGABRT)"),
    "infinite_loop": ("native", "a busy loop that never returns", "`timeout`"),
    "memory_runaway": ("native", "memory growing without bound", "`out_of_memory`"),
    "ort_exception": ("native", "a C++ exception thrown inside onnxruntime's Run", "`run_error`"),
    "output_flood": ("native", "megabytes written to stdout and stderr", "kept in the result's log"),
    # The run itself is killed or interrupted (tests/faults/test_killed.py)
    "kill_orchestrator": ("killed", "SIGKILL of `python -m matrix run` mid-matrix", "continues the unfinished run"),
    "kill_cell": ("killed", "SIGKILL of a cell's probe mid-case", "the cell's unfinished cases are run again"),
    "truncated_line": ("killed", "a truncated last JSONL line", "skipped with a warning"),
    "concurrent_runs": ("killed", "two runs started at once on one results folder", "is refused in one line"),
    # The environment fails (tests/faults/test_environment.py)
    "index_unreachable": ("environment", "the package index unreachable", "the cached answer is used"),
    "index_unreachable_cold": ("environment", "the index unreachable with nothing cached", "cannot be reached"),
    "disk_full": ("environment", "the results disk fills up mid-run", "No space left on device"),
    "daemon_stops": ("environment", "the Docker daemon stopping mid-run", "`env_error` (docker:"),
    "image_build_fails": ("environment", "an image build failing halfway", "leaves no image"),
    # Bad specs (tests/faults/test_bad_specs.py)
    "bad_spec": ("input", "a malformed or contradictory spec", "one line naming the file"),
    # Hostile text (tests/faults/test_hostile.py)
    "hostile_report": ("input", "HTML, script, quotes, control characters, invalid UTF-8 in results",
                       "nothing in it executes"),
    "path_traversal": ("input", "`../` in cell ids, case ids and model names", "nothing is written outside"),
    # Least privilege (tests/faults/test_privilege.py)
    "container_escape": ("privilege", "a case that tries the network, root, the root filesystem and its mounts",
                         "no network, as user 65534"),
}

#!/usr/bin/env python3
"""Sums Catch2 and lit totals over Bazel test targets into one line: "N passed, N failed".

Usage: summarize.py [--check NAME=EXIT_CODE]... BAZEL_EXIT_CODE BAZEL_TEST_OUTPUT TESTLOGS_DIR TARGET...

A --check is a check test.sh ran outside Bazel (the formatting check): one test, passed when its
exit code is 0.

A target counts by the test cases its log reports. A target that crashed, timed out, failed to
build, or reported no totals while failing counts as one failed test, so nothing is lost silently.
"""
import os
import re
import sys

CATCH_ALL_PASSED = re.compile(r"^All tests passed \(\d+ assertions? in (\d+) test cases?\)", re.M)
CATCH_TOTALS = re.compile(r"^test cases:\s+(\d+)\s+\|(?:\s+(\d+) passed)?(?:\s+\|)?(?:\s+(\d+) failed)?", re.M)
LIT_COUNT = re.compile(r"^\s+(Passed|Failed|Unresolved|Timed Out|Unexpectedly Passed)\s*:\s+(\d+)", re.M)
STATUS = re.compile(r"^(//\S+)\s+(?:\(cached\)\s+)?(PASSED|FAILED TO BUILD|FAILED|TIMEOUT|NO STATUS|FLAKY|INCOMPLETE|REMOTE FAILURE|SKIPPED)\b", re.M)


def counts_from_log(text):
    """(passed, failed) reported in a test log, or None when it reports nothing."""
    m = CATCH_ALL_PASSED.search(text)
    if m:
        return int(m.group(1)), 0
    m = CATCH_TOTALS.search(text)
    if m:
        total = int(m.group(1))
        failed = int(m.group(3) or 0)
        passed = int(m.group(2)) if m.group(2) else total - failed
        return passed, failed
    lit = {k: int(v) for k, v in LIT_COUNT.findall(text)}
    if lit:
        failed = sum(v for k, v in lit.items() if k != "Passed")
        return lit.get("Passed", 0), failed
    return None


def main():
    args = sys.argv[1:]
    passed = failed = 0
    while args and args[0] == "--check":
        name, _, rc = args[1].partition("=")
        if int(rc) == 0:
            passed += 1
        else:
            print(f"  {name}: FAILED", file=sys.stderr)
            failed += 1
        args = args[2:]
    checks_failed = failed
    bazel_rc, output_path, testlogs, targets = int(args[0]), args[1], args[2], args[3:]
    with open(output_path, errors="replace") as f:
        statuses = dict(STATUS.findall(f.read()))
    for target in targets:
        status = statuses.get(target, "NO STATUS")
        package, _, name = target[2:].partition(":")
        log_path = os.path.join(testlogs, package, name, "test.log")
        counts = None
        if status in ("PASSED", "FAILED", "FLAKY") and os.path.exists(log_path):
            with open(log_path, errors="replace") as f:
                counts = counts_from_log(f.read())
        if status == "PASSED":
            p, f_ = counts if counts else (1, 0)
        elif counts:
            p, f_ = counts[0], max(counts[1], 1)
        else:
            p, f_ = 0, 1
        if f_:
            print(f"  {target}: {status}, {p} passed, {f_} failed", file=sys.stderr)
        passed += p
        failed += f_
    if bazel_rc != 0 and failed == checks_failed:
        # Every test passed, yet Bazel failed: a non-test target did not build.
        print(f"  bazel test exited with {bazel_rc}: a target failed to build", file=sys.stderr)
        failed += 1
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Checks that TensorBoard itself reads the event files EventWriter writes.

Run by hand (CI has no TensorBoard, so this is no Bazel test):

    bazel build //runtime/metrics:write_test_events
    /usr/bin/python3 -m venv /tmp/tbvenv && /tmp/tbvenv/bin/pip install tensorboard
    /tmp/tbvenv/bin/python runtime/metrics/check_tensorboard.py bazel-bin/runtime/metrics/write_test_events

It runs the writer into a fresh log directory and compares the scalars it printed with what
TensorBoard reads: every raw event in order (LegacyEventFileLoader, which also checks the TFRecord
CRCs), and the scalars dashboard's view (EventAccumulator).
"""
import collections
import os
import re
import struct
import subprocess
import sys
import tempfile

import tensorboard
from tensorboard.backend.event_processing import event_accumulator, event_file_loader


def as_float32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_tensorboard.py PATH_TO_write_test_events")
    with tempfile.TemporaryDirectory() as logdir:
        printed = subprocess.run([sys.argv[1], logdir], check=True, capture_output=True, text=True).stdout
        expected = [(tag, int(step), as_float32(float(value)))
                    for tag, step, value in (line.split("\t") for line in printed.splitlines())]

        [name] = os.listdir(logdir)
        assert re.fullmatch(r"events\.out\.tfevents\.\d+\.[^/]+", name), name
        path = os.path.join(logdir, name)

        events = list(event_file_loader.LegacyEventFileLoader(path).Load())
        first, scalars = events[0], events[1:]
        assert first.file_version == "brain.Event:2", first
        assert abs(first.wall_time - int(name.split(".")[3])) < 2, (first.wall_time, name)
        raw = [(e.summary.value[0].tag, e.step, e.summary.value[0].simple_value) for e in scalars]
        assert all(len(e.summary.value) == 1 for e in scalars)
        assert raw == expected, (raw, expected)

        accumulator = event_accumulator.EventAccumulator(logdir)
        accumulator.Reload()
        by_tag = collections.defaultdict(list)
        for tag, step, value in expected:
            by_tag[tag].append((step, value))
        assert sorted(accumulator.Tags()["scalars"]) == sorted(by_tag), accumulator.Tags()
        for tag, points in by_tag.items():
            got = [(s.step, s.value) for s in accumulator.Scalars(tag)]
            assert got == points, (tag, got, points)

        print(f"TensorBoard {tensorboard.__version__} read {name}")
        print(f"  first event: file_version {first.file_version!r}, wall_time {first.wall_time:.3f}")
        print(f"  LegacyEventFileLoader: {len(scalars)} scalar events, tags/steps/values as written")
        for tag, points in sorted(by_tag.items()):
            steps = ", ".join(f"{s}: {v:.9g}" for s, v in points[:3]) + (", ..." if len(points) > 3 else "")
            print(f"  EventAccumulator {tag}: {len(points)} points as written ({steps})")
        print("OK")


if __name__ == "__main__":
    main()

#!/bin/bash
# Fails when docs/ops.md differs from what the registry generates.
if ! diff -u docs/ops.md <(graph/op_docs); then
  echo "docs/ops.md is out of date: run 'bazel run //graph:op_docs > docs/ops.md'" >&2
  exit 1
fi

# lit configuration for Kiln's pass tests (run through //passes/test:lit_test).
import os

import lit.formats

config.name = "Kiln passes"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".mlir"]
config.test_source_root = os.environ["KILN_LIT_CFG_DIR"]
# Bazel's test sandbox gives each test a scratch directory; lit writes its temporaries there.
config.test_exec_root = os.environ.get("TEST_TMPDIR", "/tmp")
# Tools are found on PATH, which //test:lit_runner.sh sets up.
config.environment["PATH"] = os.environ["PATH"]

"""Which BLAS/LAPACK (and OpenMP) a PyTorch process uses: for the peer benchmarks' reports."""
import os
import re

import torch


def blas_config_lines():
    """The BLAS/LAPACK-related entries of torch.__config__.show()."""
    lines = []
    for line in torch.__config__.show().splitlines():
        text = line.strip()
        if not text:
            continue
        if text.startswith("- Build settings:"):
            for key in ("BLAS_INFO", "LAPACK_INFO", "USE_MKLDNN", "USE_OPENMP"):
                m = re.search(rf"\b{key}=([^,]*)", text)
                if m:
                    lines.append(f"{key}={m.group(1).strip()}")
        elif re.search(r"blas|lapack|mkl|openmp", text, re.IGNORECASE):
            lines.append(text.lstrip("- "))
    return lines


def mapped_blas_libraries():
    """Shared objects this process mapped whose names look like a BLAS/LAPACK or OpenMP runtime
    (Linux only), each with its real path when it is a link."""
    found = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and re.search(r"blas|lapack|mkl_|libdnnl|libgomp|libomp",
                                                 os.path.basename(parts[5]), re.IGNORECASE):
                    found.add(parts[5])
    except OSError:
        return []
    return [f"{p} -> {os.path.realpath(p)}" if os.path.realpath(p) != p else p
            for p in sorted(found)]

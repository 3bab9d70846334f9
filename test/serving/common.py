"""What the serving tests' clients share: the test files' floats and a tolerance check."""
import array


def floats(path):
    """The little-endian f32 values of a file (test/bundle's inputs.bin, expected.bin)."""
    a = array.array("f")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    return list(a)


def close(got, want, tolerance=1e-5):
    return len(got) == len(want) and all(abs(g - w) <= tolerance for g, w in zip(got, want))

"""Compares two files of numbers, one per line: |a - b| <= tol * max(1, |b|). Usage: compare.py A B TOL"""
import sys

a = [float(x) for x in open(sys.argv[1]).read().split()]
b = [float(x) for x in open(sys.argv[2]).read().split()]
tol = float(sys.argv[3])
if len(a) != len(b):
    sys.exit("different counts: %d vs %d" % (len(a), len(b)))
bad = [(i, x, y) for i, (x, y) in enumerate(zip(a, b)) if abs(x - y) > tol * max(1.0, abs(y))]
for i, x, y in bad[:10]:
    print("line %d: %r vs expected %r" % (i + 1, x, y))
print("%d numbers compared, %d differ by more than %g" % (len(a), len(bad), tol))
sys.exit(1 if bad else 0)

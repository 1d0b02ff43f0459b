#!/usr/bin/env python3
"""compare_logits.py OURS.f32 REF.f32 N_VOCAB TOL [--argmax]
Per row r: err_r = max_i |ours - ref| / std(ref) (shared/ref/README.md). Prints the worst
row error; exits 1 if any row exceeds TOL (or, with --argmax, if any argmax differs)."""
import array, math, sys

def rows(path, n):
    a = array.array('f')
    with open(path, 'rb') as f:
        a.frombytes(f.read())
    if len(a) % n:
        sys.exit(f"{path}: {len(a)} floats is not a multiple of n_vocab {n}")
    return [a[i:i + n] for i in range(0, len(a), n)]

ours, ref = rows(sys.argv[1], int(sys.argv[3])), rows(sys.argv[2], int(sys.argv[3]))
tol, check_argmax = float(sys.argv[4]), '--argmax' in sys.argv
if len(ours) != len(ref):
    sys.exit(f"row count {len(ours)} != reference {len(ref)}")
worst, bad = 0.0, 0
for r, (o, f) in enumerate(zip(ours, ref)):
    mean = sum(f) / len(f)
    sd = math.sqrt(sum((x - mean) ** 2 for x in f) / len(f))
    err = max(abs(a - b) for a, b in zip(o, f)) / sd
    worst = max(worst, err)
    am_o = max(range(len(o)), key=o.__getitem__)
    am_f = max(range(len(f)), key=f.__getitem__)
    if err > tol or (check_argmax and am_o != am_f):
        print(f"row {r}: err {err:.5f} argmax {am_o} vs {am_f}")
        bad += 1
print(f"rows {len(ours)} worst err {worst:.5f}")
sys.exit(1 if bad else 0)

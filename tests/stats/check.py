"""Checks micromarket's concentration statistics against independent implementations.

Reads the cases a test wrote (JSON) and compares:
- disk populations of every tested centre with h3-py's grid_disk over the occupied cells;
- beta-binomial (and binomial) upper tails with scipy.stats;
- Benjamini-Hochberg q-values and the selection at the FDR with statsmodels' multipletests.

Exit 1 on any mismatch, with what differs.
"""
import json
import sys

import h3
import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests


def main(path):
    cases = json.load(open(path))
    problems = []

    population = dict(zip(cases["cells"], cases["population"]))
    disks = 0
    for centre in cases["disks"]:
        for r, ours in enumerate(centre["population"]):
            theirs = sum(population.get(c, 0) for c in h3.grid_disk(centre["cell"], r))
            disks += 1
            if theirs != ours:
                problems.append(f"disk {centre['cell']} r={r}: ours {ours}, h3-py {theirs}")

    worst = 0.0
    for k, n, mean, rho, ours in cases["tails"]:
        if rho > 0:
            scale = 1.0 / rho - 1.0
            theirs = stats.betabinom.sf(k - 1, n, mean * scale, (1.0 - mean) * scale)
        else:
            theirs = stats.binom.sf(k - 1, n, mean)
        worst = max(worst, abs(theirs - ours))
        if abs(theirs - ours) > 1e-9:
            problems.append(f"tail k={k} n={n} mean={mean} rho={rho}: ours {ours}, scipy {theirs}")

    p = np.array(cases["bh"]["p"])
    reject, q, _, _ = multipletests(p, alpha=cases["bh"]["fdr"], method="fdr_bh")
    ours_q = np.array(cases["bh"]["q"])
    if not np.allclose(q, ours_q, rtol=1e-12, atol=1e-15):
        problems.append(f"BH q-values differ: max {np.max(np.abs(q - ours_q))}")
    ours_reject = np.array(cases["bh"]["q"]) <= cases["bh"]["fdr"]
    if (reject != ours_reject).any():
        problems.append(f"BH selection differs at {int((reject != ours_reject).sum())} p-values")

    print(f"{disks} disk sums, {len(cases['tails'])} tails (largest difference {worst:.2e}), "
          f"{len(p)} BH p-values ({int(reject.sum())} selected) checked")
    for problem in problems[:20]:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

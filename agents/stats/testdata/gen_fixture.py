#!/usr/bin/env python3
"""Writes fixture.json, the reference numbers of the Go package agents/stats.

Regenerate from the repository root with a Python 3 that has NumPy and SciPy
(Debian: apt-get install python3-numpy python3-scipy):

    python3 agents/stats/testdata/gen_fixture.py

The output is deterministic (seeded NumPy Generator). Neither NumPy nor SciPy is
needed to run `go test`; the Go tests only read the JSON.

The numbers follow rliable (google-research/rliable; Agarwal et al., "Deep
Reinforcement Learning at the Edge of the Statistical Precipice", NeurIPS 2021),
computed here with the same NumPy/SciPy calls rliable makes, not with rliable:

- iqm: scipy.stats.trim_mean(scores, 0.25, axis=None)        (metrics.aggregate_iqm)
- mean, median: of the per-task means over runs      (aggregate_mean / _median)
- optimality_gap: gamma - mean(minimum(scores, gamma))  (aggregate_optimality_gap)
- improvement: per task scipy.stats.mannwhitneyu(x, y, alternative="greater")
  .statistic / (n_x * n_y), averaged over tasks (probability_of_improvement)
- score_distribution: mean(scores > tau) per tau      (library.score_distributions)
- average_score_distribution: mean(task means > tau)  (average_score_distributions)

Bootstrap intervals. rliable's StratifiedBootstrap draws, per replicate, a runs x
tasks array of run indices, np.random.choice(runs, (runs, tasks)), and the replicate
is scores[idx, arange(tasks)]: runs are resampled with replacement within each task.
StratifiedIndependentBootstrap does this separately for each method of a pair. The
interval is arch's percentile method: np.percentile(replicate values,
[100 a, 100 (1 - a)]) with a = (1 - confidence) / 2 and NumPy's default linear
interpolation. The index arrays of every replicate are written to the file so that
the Go code, fed the same indices, must reproduce these intervals to rounding:

- methods[k].indices[rep] is replicate rep of method k; it serves all aggregates
  and both profiles (one shared set of replicates, as rliable's aggregate_func).
- pairs[k].x_indices[rep] and y_indices[rep] are the independent draws for
  improvement of method x over method y; pairs are (0,1), (0,2), (1,2).

own_rng holds intervals from many replicates of NumPy's own generator, which the
Go test compares with its own seeded generator within Monte Carlo error.
"""

import json
import os

import numpy as np
import scipy.stats

GAMMA = 100.0
CONFIDENCE = 0.95
REPS = 100  # replayed replicates per method and pair
OWN_REPS = 50000  # rliable's get_interval_estimates default
TAU = np.linspace(0.0, 100.0, 11)
ALPHA = (1.0 - CONFIDENCE) / 2


def iqm(s):
    return float(scipy.stats.trim_mean(s, proportiontocut=0.25, axis=None))


def mean(s):
    return float(np.mean(np.mean(s, axis=0)))


def median(s):
    return float(np.median(np.mean(s, axis=0)))


def optimality_gap(s):
    return float(GAMMA - np.mean(np.minimum(s, GAMMA)))


def improvement(x, y):
    p = []
    for t in range(x.shape[1]):
        u = scipy.stats.mannwhitneyu(x[:, t], y[:, t], alternative="greater").statistic
        p.append(u / (x.shape[0] * y.shape[0]))
    return float(np.mean(p))


def score_distribution(s):
    return [float(np.mean(s > tau)) for tau in TAU]


def average_score_distribution(s):
    return [float(np.mean(np.mean(s, axis=0) > tau)) for tau in TAU]


AGGREGATES = {"iqm": iqm, "mean": mean, "median": median, "optimality_gap": optimality_gap}
PROFILES = {"score_distribution": score_distribution,
            "average_score_distribution": average_score_distribution}


def resample(s, idx):
    return s[idx, np.arange(s.shape[1])]


def draw(rng, s):
    return rng.integers(0, s.shape[0], size=s.shape)


def ci(values):
    lo, hi = np.percentile(np.asarray(values), [100 * ALPHA, 100 * (1 - ALPHA)], axis=0)
    return [lo.tolist() if np.ndim(lo) else float(lo), hi.tolist() if np.ndim(hi) else float(hi)]


def main():
    rng = np.random.default_rng(20211206)
    # Pooled sizes 15, 21 and 9 are not multiples of 4, so the IQM's floor(n/4) cut
    # is exercised (3, 5 and 2 scores cut from each end).
    tasks = 3
    # A: continuous scores, 5 runs, some above 100 (clipped by the optimality gap).
    a = rng.normal(60.0, 25.0, size=(5, tasks))
    # B: 7 runs on a coarse grid clipped to [0, 100]: ties, atoms at 0 and 100.
    b = np.clip(np.round(rng.normal(55.0, 35.0, size=(7, tasks)) / 10.0) * 10.0, 0.0, 100.0)
    # C: 3 runs on the same grid as B (ties across methods).
    c = np.array([[100.0, 0.0, 50.0], [100.0, 0.0, 60.0], [20.0, 0.0, 50.0]])
    scores = [a, b, c]

    methods = []
    for name, s in zip("ABC", scores):
        idx = np.stack([draw(rng, s) for _ in range(REPS)])
        reps = [resample(s, i) for i in idx]
        m = {"name": name, "scores": s.tolist(), "indices": idx.tolist(), "ci": {}}
        for key, f in {**AGGREGATES, **PROFILES}.items():
            m[key] = f(s)
            m["ci"][key] = ci([f(r) for r in reps])
        methods.append(m)

    pairs = []
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        x, y = scores[i], scores[j]
        xi, yi = [], []
        for _ in range(REPS):  # per replicate: X's draw, then Y's
            xi.append(draw(rng, x))
            yi.append(draw(rng, y))
        vals = [improvement(resample(x, p), resample(y, q)) for p, q in zip(xi, yi)]
        pairs.append({"x": i, "y": j, "improvement": improvement(x, y),
                      "x_indices": np.stack(xi).tolist(), "y_indices": np.stack(yi).tolist(),
                      "ci": ci(vals)})

    # Many replicates of NumPy's own generator, vectorised over replicates.
    own = np.random.default_rng(7)
    ra = a[own.integers(0, a.shape[0], size=(OWN_REPS,) + a.shape), np.arange(tasks)]
    flat = ra.reshape(OWN_REPS, -1)
    own_iqm = scipy.stats.trim_mean(flat, 0.25, axis=1)
    own_mean = ra.mean(axis=1).mean(axis=1)
    rx = a[own.integers(0, a.shape[0], size=(OWN_REPS,) + a.shape), np.arange(tasks)]
    ry = b[own.integers(0, b.shape[0], size=(OWN_REPS,) + b.shape), np.arange(tasks)]
    gt = (rx[:, :, None, :] > ry[:, None, :, :]).mean(axis=(1, 2))
    eq = (rx[:, :, None, :] == ry[:, None, :, :]).mean(axis=(1, 2))
    own_poi = (gt + 0.5 * eq).mean(axis=1)

    fixture = {
        "generator": "agents/stats/testdata/gen_fixture.py",
        "numpy": np.__version__, "scipy": scipy.__version__,
        "gamma": GAMMA, "confidence": CONFIDENCE, "reps": REPS, "tau": TAU.tolist(),
        "methods": methods, "pairs": pairs,
        "own_rng": {"method": 0, "x": 0, "y": 1, "reps": OWN_REPS,
                    "iqm": ci(own_iqm), "mean": ci(own_mean), "improvement": ci(own_poi)},
    }
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixture.json")
    with open(out + ".tmp", "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()

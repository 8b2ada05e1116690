// Package stats computes the statistics of RL results the way rliable does (Agarwal,
// Schwarzer, Castro, Courville and Bellemare, "Deep Reinforcement Learning at the Edge
// of the Statistical Precipice", NeurIPS 2021, arXiv:2108.13264; google-research/rliable):
// aggregate scores with stratified-bootstrap confidence intervals, the probability of
// improvement of one method over another, and performance profiles, with PNG plots.
//
// # Data
//
// One method's results are a Scores: a runs × tasks matrix of normalised scores (evarl's
// are 0–100, the scripted expert at 100), one row per seed and one column per task,
// built by NewScores, which rejects empty, ragged and non-finite input. Methods compared
// with each other share the tasks (same columns in the same order) but may have
// different numbers of runs.
//
// # Estimates
//
//   - IQM, the interquartile mean: the mean of the middle 50 % of all runs × tasks pooled
//     (floor(n/4) scores cut from each end, as scipy.stats.trim_mean(·, 0.25)). It is the
//     paper's recommended aggregate: robust, because a few outlying runs or tasks cannot
//     move it much (unlike the mean), and statistically efficient, because it uses half
//     of all runs rather than only the middle task mean(s) the median uses, so its
//     interval is narrower with few seeds.
//   - Mean and Median: of the per-task mean scores. The mean is dominated by outlying
//     tasks; the median ignores half of them and has high variance.
//   - OptimalityGap(γ): γ minus the mean of min(score, γ), how far from the target γ
//     (DefaultGamma = 100) the method stays; lower is better.
//   - Improvement: P(X > Y), the probability that a random run of X beats a random run
//     of Y on the same task (Mann–Whitney U / (n·m), ties counting ½), averaged over
//     tasks. It shows how often X wins, not by how much: 0.5 is no difference.
//   - ScoreDistribution: the performance profile (Dolan and Moré 2002, as the paper
//     adapts it): the share of runs × tasks with score > τ for each threshold τ.
//     AverageScoreDistribution uses the task means instead.
//
// # Confidence intervals
//
// Intervals are percentile bootstrap intervals (Efron and Tibshirani, "An Introduction
// to the Bootstrap", 1993): the (1−c)/2 and (1+c)/2 quantiles, linearly interpolated
// as np.percentile does, of the estimate over Reps resampled data sets; 95 % and 50000
// replicates by default (2000 for profiles), as rliable's get_interval_estimates and
// create_performance_profile. The resampling is stratified: within each task, runs are
// drawn with replacement, so a replicate keeps every task and the interval reflects
// the uncertainty of rerunning the seeds on the same tasks (rliable's
// StratifiedBootstrap without task_bootstrap). For the probability of improvement the
// two methods are resampled independently (StratifiedIndependentBootstrap). Several
// metrics passed to one Bootstrap call share their replicates. The Monte Carlo error of
// an interval end is of order √(q(1−q)/Reps) in probability; the data's own uncertainty
// is what the interval measures, and with a handful of seeds it is wide — which is the
// point. A bootstrap needs at least two runs per task; with one, every replicate equals
// the data and the interval would claim certainty, so it is an error.
//
// Not provided: rliable's basic, bias-corrected and BCa intervals and its task
// bootstrap.
//
// # Determinism
//
// Every draw comes from the Resampler given: Stratified(rng) with a seeded *rand.Rand
// reproduces the same intervals for the same seed. (rliable draws from NumPy's global
// generator.) A Resampler can also replay recorded indices; the tests feed the exact
// index arrays of a NumPy fixture (testdata/gen_fixture.py) and reproduce its intervals
// to 1e-9.
//
// # Plots
//
// PlotProfiles draws several methods' profiles with shaded bands; PlotIntervals one
// estimate per method as horizontal intervals; PlotImprovement every pair of an
// ImprovementMatrix against the 0.5 line. All write PNG atomically in the Okabe–Ito
// colours of evarl's other figures.
package stats

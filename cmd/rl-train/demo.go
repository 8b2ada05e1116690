package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/evarl/evarl/agents/expert"
	"github.com/evarl/evarl/envs"
)

func init() { subcommands = append(subcommands, newDemoCmd) }

// demoConfig configures `rl-train demo` (configs/demo.yaml).
type demoConfig struct {
	TaskSet  string        `yaml:"task_set"`  // task set key, family/name (see `rl-train envs`)
	Episodes int           `yaml:"episodes"`  // episodes per task
	Noise    float64       `yaml:"noise"`     // expert noise in [0, 1]: 0 expert, 1 uniform random actions
	Seed     int64         `yaml:"seed"`      // seeds the environments (env i of a task: seed+i) and the noise
	NumEnvs  int           `yaml:"num_envs"`  // environments per task stepped by the vector env
	Workers  int           `yaml:"workers"`   // worker goroutines of the vector env (0: one per CPU)
	LogEvery time.Duration `yaml:"log_every"` // interval between progress log lines, e.g. 2s
}

func defaultDemoConfig() demoConfig {
	return demoConfig{
		TaskSet:  "gridworld/heldout",
		Episodes: 20,
		Noise:    0,
		Seed:     0,
		NumEnvs:  8,
		Workers:  0,
		LogEvery: 2 * time.Second,
	}
}

func (c demoConfig) validate() error {
	switch {
	case c.TaskSet == "":
		return fmt.Errorf("demo: task_set is empty; want a task set such as gridworld/pretrain (see rl-train envs)")
	case c.Episodes < 1:
		return fmt.Errorf("demo: episodes = %d; want ≥ 1", c.Episodes)
	case !(c.Noise >= 0 && c.Noise <= 1):
		return fmt.Errorf("demo: noise = %v; want a number in [0, 1]", c.Noise)
	case c.Seed < 0:
		return fmt.Errorf("demo: seed = %d; want ≥ 0", c.Seed)
	case c.NumEnvs < 1:
		return fmt.Errorf("demo: num_envs = %d; want ≥ 1", c.NumEnvs)
	case c.Workers < 0:
		return fmt.Errorf("demo: workers = %d; want ≥ 0 (0: one per CPU)", c.Workers)
	case c.LogEvery <= 0:
		return fmt.Errorf("demo: log_every = %v; want a positive duration such as 2s", c.LogEvery)
	}
	return nil
}

func newDemoCmd(a *app) *cobra.Command {
	var flags demoConfig
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the scripted experts on a task set through the vector env and print a per-task table",
		Long: `demo runs the scripted expert of every task in a task set, at a noise level, on
num_envs copies of the task's environment stepped in parallel, and prints the mean
return, success rate and episode length of each task and of the whole set.
Success is Info.Success, or for environments without one a return at or above the
registered reward threshold. Flags override the config file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := defaultDemoConfig()
			if _, err := a.loadConfig(&cfg); err != nil {
				return err
			}
			f := cmd.Flags()
			if f.Changed("task-set") {
				cfg.TaskSet = flags.TaskSet
			}
			if f.Changed("episodes") {
				cfg.Episodes = flags.Episodes
			}
			if f.Changed("noise") {
				cfg.Noise = flags.Noise
			}
			if f.Changed("num-envs") {
				cfg.NumEnvs = flags.NumEnvs
			}
			if err := cfg.validate(); err != nil {
				return err
			}
			return runDemo(cmd.Context(), a, cfg)
		},
	}
	def := defaultDemoConfig()
	cmd.Flags().StringVar(&flags.TaskSet, "task-set", def.TaskSet, "task set, family/name (overrides task_set)")
	cmd.Flags().IntVar(&flags.Episodes, "episodes", def.Episodes, "episodes per task (overrides episodes)")
	cmd.Flags().Float64Var(&flags.Noise, "noise", def.Noise, "expert noise in [0, 1] (overrides noise)")
	cmd.Flags().IntVar(&flags.NumEnvs, "num-envs", def.NumEnvs, "environments per task (overrides num_envs)")
	return cmd
}

// taskResult holds the finished episodes of one task.
type taskResult struct {
	task    envs.Task
	returns []float64
	lengths []int
	success []bool
}

func runDemo(ctx context.Context, a *app, cfg demoConfig) error {
	set, err := envs.LookupTaskSet(cfg.TaskSet)
	if err != nil {
		return fmt.Errorf("demo: task_set: %w", err)
	}
	have := expert.IDs()
	for _, t := range set.Tasks {
		if !slices.Contains(have, t.EnvID) {
			return fmt.Errorf("demo: task %s (%s) has no scripted expert; experts exist for: %s", t.ID, t.EnvID, strings.Join(have, ", "))
		}
	}
	a.log.WithFields(logrus.Fields{
		"task_set": cfg.TaskSet, "tasks": len(set.Tasks), "episodes": cfg.Episodes, "noise": cfg.Noise,
		"seed": cfg.Seed, "num_envs": cfg.NumEnvs, "workers": cfg.Workers,
	}).Info("demo")
	start := time.Now()
	results := make([]taskResult, 0, len(set.Tasks))
	totalSteps := 0
	for k, task := range set.Tasks {
		r, steps, err := runDemoTask(ctx, a, cfg, k, task)
		if err != nil {
			return err
		}
		totalSteps += steps
		results = append(results, r)
		ret, _ := meanStd(r.returns)
		a.log.WithFields(logrus.Fields{
			"task": task.ID, "episodes": len(r.returns), "mean_return": round4(ret),
			"success_rate": round4(rate(r.success)), "steps": steps,
		}).Info("task done")
	}
	elapsed := time.Since(start)
	a.log.WithFields(logrus.Fields{
		"tasks": len(results), "steps": totalSteps, "seconds": round4(elapsed.Seconds()),
		"steps_per_s": math.Round(float64(totalSteps) / elapsed.Seconds()),
	}).Info("demo done")
	return printDemo(a, cfg, results, totalSteps, elapsed)
}

// runDemoTask runs the expert on cfg.NumEnvs copies of task until it has
// cfg.Episodes episodes. Each environment contributes a fixed share of the episodes,
// (Episodes+i)/n for environment i, as in Stable-Baselines3's evaluate_policy, so that
// short episodes are not over-represented by environments that finish first.
func runDemoTask(ctx context.Context, a *app, cfg demoConfig, k int, task envs.Task) (taskResult, int, error) {
	res := taskResult{task: task}
	n := min(cfg.NumEnvs, cfg.Episodes)
	list := make([]envs.Env, n)
	for i := range list {
		env, err := task.Make()
		if err != nil {
			return res, 0, fmt.Errorf("demo: task %s: %w", task.ID, err)
		}
		list[i] = env
	}
	vec, err := envs.NewVector(list, cfg.Workers)
	if err != nil {
		return res, 0, fmt.Errorf("demo: task %s: %w", task.ID, err)
	}
	defer vec.Close()
	policies := make([]expert.Policy, n)
	for i := range policies {
		rng := rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(k)<<20|uint64(i)))
		if policies[i], err = expert.New(task.EnvID, vec.Env(i), cfg.Noise, rng); err != nil {
			return res, 0, fmt.Errorf("demo: task %s: %w", task.ID, err)
		}
	}
	spec, _ := envs.Lookup(task.EnvID)
	obs, err := vec.Reset(cfg.Seed)
	if err != nil {
		return res, 0, fmt.Errorf("demo: task %s: %w", task.ID, err)
	}
	for _, p := range policies {
		if err := p.Reset(); err != nil {
			return res, 0, fmt.Errorf("demo: task %s: expert reset: %w", task.ID, err)
		}
	}
	target := make([]int, n)
	for i := range target {
		target[i] = (cfg.Episodes + i) / n
	}
	count := make([]int, n)
	epReturn := make([]float64, n)
	epLen := make([]int, n)
	actions := make([]float64, n*vec.ActDim())
	od, ad := vec.ObsDim(), vec.ActDim()
	steps, lastLog := 0, time.Now()
	for len(res.returns) < cfg.Episodes {
		if err := ctx.Err(); err != nil {
			return res, steps, fmt.Errorf("demo: task %s: %w", task.ID, err)
		}
		for i, p := range policies {
			if err := p.Act(obs[i*od:(i+1)*od], actions[i*ad:(i+1)*ad]); err != nil {
				return res, steps, fmt.Errorf("demo: task %s env %d: expert: %w", task.ID, i, err)
			}
		}
		out, err := vec.Step(actions)
		if err != nil {
			return res, steps, fmt.Errorf("demo: task %s: %w", task.ID, err)
		}
		obs = out.Obs
		for i := range n {
			counted := count[i] < target[i] // false once env i has contributed its share
			if counted {
				steps++
				epReturn[i] += out.Rewards[i]
				epLen[i]++
			}
			if !out.Terminated[i] && !out.Truncated[i] {
				continue
			}
			if counted {
				solved := out.Infos[i].Success || (!math.IsNaN(spec.RewardThreshold) && epReturn[i] >= spec.RewardThreshold)
				res.returns = append(res.returns, epReturn[i])
				res.lengths = append(res.lengths, epLen[i])
				res.success = append(res.success, solved)
				count[i]++
			}
			epReturn[i], epLen[i] = 0, 0
			if err := policies[i].Reset(); err != nil {
				return res, steps, fmt.Errorf("demo: task %s: expert reset: %w", task.ID, err)
			}
		}
		if time.Since(lastLog) >= cfg.LogEvery {
			lastLog = time.Now()
			ret, _ := meanStd(res.returns)
			a.log.WithFields(logrus.Fields{
				"task": task.ID, "episodes": len(res.returns), "of": cfg.Episodes,
				"steps": steps, "mean_return": round4(ret), "success_rate": round4(rate(res.success)),
			}).Info("progress")
		}
	}
	return res, steps, nil
}

func printDemo(a *app, cfg demoConfig, results []taskResult, steps int, elapsed time.Duration) error {
	fmt.Fprintf(a.stdout, "Scripted experts on %s (noise %g, %d episodes per task, %d envs)\n\n", cfg.TaskSet, cfg.Noise, cfg.Episodes, cfg.NumEnvs)
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TASK\tENV\tEPISODES\tRETURN MEAN\tRETURN STD\tSUCCESS\tLENGTH MEAN")
	var allReturns, allLengths []float64
	var allSuccess []bool
	for _, r := range results {
		ret, sd := meanStd(r.returns)
		lengths := make([]float64, len(r.lengths))
		for i, l := range r.lengths {
			lengths[i] = float64(l)
		}
		ln, _ := meanStd(lengths)
		fmt.Fprintf(w, "%s\t%s\t%d\t%.3f\t%.3f\t%.1f%%\t%.1f\n", r.task.ID, r.task.EnvID, len(r.returns), ret, sd, 100*rate(r.success), ln)
		allReturns = append(allReturns, r.returns...)
		allLengths = append(allLengths, lengths...)
		allSuccess = append(allSuccess, r.success...)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	ret, sd := meanStd(allReturns)
	ln, _ := meanStd(allLengths)
	_, err := fmt.Fprintf(a.stdout, "\nSummary: %d tasks, %d episodes, return %.3f ± %.3f, success %.1f%%, length %.1f, %d steps in %.2fs (%.0f steps/s)\n",
		len(results), len(allReturns), ret, sd, 100*rate(allSuccess), ln, steps, elapsed.Seconds(), float64(steps)/elapsed.Seconds())
	return err
}

// meanStd returns the mean and the population standard deviation (0, 0 for none).
func meanStd(x []float64) (mean, std float64) {
	if len(x) == 0 {
		return 0, 0
	}
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	for _, v := range x {
		std += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(std / float64(len(x)))
}

func rate(b []bool) float64 {
	if len(b) == 0 {
		return 0
	}
	k := 0
	for _, v := range b {
		if v {
			k++
		}
	}
	return float64(k) / float64(len(b))
}

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }

package policy

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/envs/gridworld"
	"github.com/evarl/evarl/nn"
)

// BenchmarkActGridworld20 and BenchmarkActGridworld64 measure acting: the shipped
// gridworld policy (../pretrained/gridworld) drives 20 or 64 environments of the
// gridworld pretraining tasks (environment i on task i mod 36), greedy at target
// return 1, as an evaluation does. One iteration is one batched Actor.Act and one
// step of every environment; an ended episode restarts at once. Reported: env-steps/s
// (environment steps per second, acting and stepping together), act-µs/step (the
// time in Actor.Act per environment step) and cpu-µs/step (the process's CPU time
// per environment step, the steadier figure on a shared machine).
func BenchmarkActGridworld20(b *testing.B) { benchActGridworld(b, 20) }

// BenchmarkActGridworld64 is BenchmarkActGridworld20 with 64 environments.
func BenchmarkActGridworld64(b *testing.B) { benchActGridworld(b, 64) }

func benchActGridworld(b *testing.B, n int) {
	const dir = "../pretrained/gridworld"
	if _, err := os.Stat(dir); err != nil {
		b.Skipf("no shipped policy: %v", err)
	}
	g, err := nn.DefaultGemm(nil)
	if err != nil {
		b.Fatal(err)
	}
	m, err := Load(dir, g)
	if err != nil {
		b.Fatal(err)
	}
	tasks := gridworld.PretrainTasks().Tasks
	envList := make([]envs.Env, n)
	seeds := make([]int64, n)
	actor, err := NewActor(m, n, true, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := range envList {
		if envList[i], err = tasks[i%len(tasks)].Make(); err != nil {
			b.Fatal(err)
		}
		seeds[i] = int64(i)
		obs, _, err := envList[i].Reset(seeds[i])
		if err != nil {
			b.Fatal(err)
		}
		if err := actor.Begin(i, obs, 1); err != nil {
			b.Fatal(err)
		}
	}
	actions := make([]float64, n)
	step := func() time.Duration {
		t0 := time.Now()
		if err := actor.Act(actions); err != nil {
			b.Fatal(err)
		}
		dt := time.Since(t0)
		for i, e := range envList {
			tr, err := e.Step(actions[i : i+1])
			if err != nil {
				b.Fatal(err)
			}
			if !tr.Done() {
				actor.Observe(i, tr.Reward, tr.Obs)
				continue
			}
			seeds[i] += int64(n)
			obs, _, err := e.Reset(seeds[i])
			if err != nil {
				b.Fatal(err)
			}
			if err := actor.Begin(i, obs, 1); err != nil {
				b.Fatal(err)
			}
		}
		return dt
	}
	for range 2 * m.Config().Context { // past the first, shorter windows
		step()
	}
	b.ReportAllocs()
	cpu0, cpuOK := processCPU()
	b.ResetTimer()
	var inAct time.Duration
	for i := 0; i < b.N; i++ {
		inAct += step()
	}
	b.StopTimer()
	steps := float64(b.N * n)
	b.ReportMetric(steps/b.Elapsed().Seconds(), "env-steps/s")
	b.ReportMetric(float64(inAct.Microseconds())/steps, "act-µs/step")
	if cpu1, ok := processCPU(); ok && cpuOK {
		// CPU time of the whole process per environment step, acting and stepping.
		b.ReportMetric(float64((cpu1-cpu0).Microseconds())/steps, "cpu-µs/step")
	}
}

// BenchmarkModelAct times Model.Act alone on fixed windows at the shipped size
// (random weights of the gridworld policy's shape), so that kernels can be compared
// independently of environments and episode lengths: 20 or 64 windows of K = 10
// steps, either all full ("full") or window w holding its last 1 + w mod 10 steps
// ("mixed", a spread of episode ages as in a running evaluation). Reported: µs per
// window (one environment step) and CPU µs per window.
func BenchmarkModelAct(b *testing.B) {
	cfg := DefaultConfig(204, ActionSpace{Discrete: 3})
	cfg.EmbedDim, cfg.Layers, cfg.Heads, cfg.Context, cfg.MaxEpisodeLen = 64, 2, 2, 10, 512
	g, err := nn.DefaultGemm(nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{20, 64} {
		for _, mixed := range []bool{false, true} {
			name := fmt.Sprintf("envs=%d/full", n)
			if mixed {
				name = fmt.Sprintf("envs=%d/mixed", n)
			}
			b.Run(name, func(b *testing.B) {
				rng := rand.New(rand.NewPCG(3, 3))
				m, err := New(cfg, rng, g)
				if err != nil {
					b.Fatal(err)
				}
				m.SetTrain(false)
				bt := NewBatch(cfg, n)
				K := cfg.Context
				for i := range bt.Mask {
					w, s := i/K, i%K
					bt.Mask[i] = !mixed || s >= K-1-w%K
					bt.Returns[i] = float32(rng.Float64())
					bt.Timesteps[i] = 30 + s
					bt.Actions[i] = float32(rng.IntN(3))
					for d := 0; d < cfg.StateDim; d++ {
						if rng.IntN(4) == 0 {
							bt.States[i*cfg.StateDim+d] = 1
						}
					}
				}
				out := make([]float32, n)
				if err := m.Act(bt, true, nil, out); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				cpu0, cpuOK := processCPU()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := m.Act(bt, true, nil, out); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				windows := float64(b.N * n)
				b.ReportMetric(float64(b.Elapsed().Microseconds())/windows, "µs/window")
				if cpu1, ok := processCPU(); ok && cpuOK {
					b.ReportMetric(float64((cpu1-cpu0).Microseconds())/windows, "cpu-µs/window")
				}
			})
		}
	}
}

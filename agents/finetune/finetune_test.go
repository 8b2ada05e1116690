package finetune

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/agents/collect"
	"github.com/evarl/evarl/envs"
	_ "github.com/evarl/evarl/envs/all"
	"github.com/evarl/evarl/internal/metrics"
	"github.com/evarl/evarl/internal/runcheck"
	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/policy"
	"github.com/evarl/evarl/replay"
)

// smallTask is a 7×7 gridworld with a 3×3 view and 30 steps, random starts.
func smallTask() envs.Task {
	return envs.Task{ID: "grid-small", EnvID: "GridWorld-v0", Options: envs.Options{
		"size": 7, "view": 3, "layout": "rooms", "task_seed": 3, "max_episode_steps": 30, "random_start": true}}
}

// fixture is a small untrained policy for smallTask and expert-ish data of it.
func fixture(t testing.TB) (*policy.Model, []envs.Task, []*replay.Episode) {
	t.Helper()
	tasks := []envs.Task{smallTask()}
	env, err := tasks[0].Make()
	if err != nil {
		t.Fatal(err)
	}
	cfg := policy.DefaultConfig(env.ObservationSpace().Dim(), policy.ActionSpace{Discrete: 3})
	cfg.EmbedDim, cfg.Layers, cfg.Heads, cfg.Context, cfg.MaxEpisodeLen, cfg.Dropout = 16, 1, 2, 4, 64, 0.1
	m, err := policy.New(cfg, rand.New(rand.NewPCG(1, 2)), nn.GonumGemm{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := collect.Episodes(context.Background(), tasks, 12, 0.3, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	return m, tasks, data
}

// smallOnlineConfig is smallConfig in online mode: an offline phase of 7 updates,
// then 2 iterations of 2 exploration episodes and 7 updates (21 updates).
func smallOnlineConfig(method string) Config {
	c := smallConfig(method)
	c.Mode = ModeOnline
	c.Online.OfflineUpdates, c.Online.Iterations, c.Online.UpdatesPerIteration = 7, 2, 7
	c.Online.EpisodesPerIteration, c.Online.NumEnvs, c.Online.BatchSize, c.Online.BufferSize = 2, 2, 4, 20
	c.Online.Schedule.LR, c.Online.Schedule.WarmupSteps = 1e-3, 2
	return c
}

// smallConfig fine-tunes for 20 updates, validating every 5.
func smallConfig(method string) Config {
	c := DefaultConfig()
	c.Method = method
	c.LoRA.R, c.LoRA.Alpha, c.LoRA.Dropout = 2, 4, 0.1
	c.Train = agents.DefaultTrainConfig(20)
	c.Train.BatchSize = 4
	c.Eval.Every, c.Eval.Episodes, c.Eval.TestEpisodes, c.Eval.NumEnvs = 5, 3, 4, 4
	c.EVA.RolloutEpisodes, c.EVA.RolloutMaxSteps, c.EVA.NumEnvs, c.EVA.Batch, c.EVA.MaxBatches, c.EVA.AcceptUnconverged = 2, 10, 2, 2, 20, true
	c.LogEvery = 1
	c.Seed = 7
	return c
}

// cancelAt is a recorder that cancels its context when it sees the training row of
// update step.
type cancelAt struct {
	step   int
	cancel func()
}

func (c *cancelAt) Record(step int, v map[string]float64) error {
	if _, train := v[agents.MetricTrainLoss]; train && step == c.step {
		c.cancel()
	}
	return nil
}

func runTo(t *testing.T, dir string, cfg Config, ctx context.Context, rec agents.Recorder, resume bool) (*Result, error) {
	t.Helper()
	m, tasks, data := fixture(t)
	var tu *Tuner
	var err error
	if resume {
		tu, err = Resume(context.Background(), dir, m, tasks, data, cfg, Options{})
	} else {
		tu, err = New(context.Background(), m, tasks, data, cfg, Options{RunDir: dir})
	}
	if err != nil {
		t.Fatal(err)
	}
	return tu.Learn(ctx, rec)
}

// An interruption during an evaluation or between updates, then Resume, gives the
// files an uninterrupted run writes: best/ and last/ byte for byte, and the same
// metric rows (timings aside). Adapter dropout is on, so its draws must resume too.
// In online mode, step 7 is the end of the offline phase (the next update explores
// first) and step 10 is inside the first iteration.
func TestResumeIsExact(t *testing.T) {
	for _, run := range []struct{ method, mode string }{
		{MethodLoRA, ModeOffline}, {MethodFull, ModeOffline}, {MethodEVA, ModeOffline},
		{MethodLoRA, ModeOnline}, {MethodFull, ModeOnline},
	} {
		method, cfg := run.method, smallConfig(run.method)
		if run.mode == ModeOnline {
			method, cfg = run.method+"-online", smallOnlineConfig(run.method)
		}
		straight := t.TempDir()
		want, err := runTo(t, straight, cfg, context.Background(), nil, false)
		if err != nil {
			t.Fatal(err)
		}
		if run.mode == ModeOnline {
			// The run went online: its last training row reports the second
			// iteration and a buffer partly filled by exploration.
			rows, err := runcheck.Untimed(straight, "metrics.jsonl")
			if err != nil {
				t.Fatal(err)
			}
			var last metrics.Row
			for _, r := range rows {
				if _, ok := r.Values[agents.MetricTrainLoss]; ok {
					last = r
				}
			}
			if last.Step != 21 || last.Values[agents.MetricOnlineIteration] != 1 || !(last.Values[agents.MetricBufferOnlineShare] > 0) {
				t.Fatalf("%s: last training row %+v, want step 21 of iteration 1 with online data in the buffer", method, last)
			}
		}
		// Step 10's training row comes just before its validation: cancelling there
		// interrupts the evaluation; step 7 is between updates.
		for _, at := range []int{10, 7} {
			t.Run(method+"/"+string(rune('0'+at/10))+string(rune('0'+at%10)), func(t *testing.T) {
				dir := t.TempDir()
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				if _, err := runTo(t, dir, cfg, ctx, &cancelAt{step: at, cancel: cancel}, false); !errors.Is(err, agents.ErrInterrupted) {
					t.Fatalf("interrupted run: %v, want ErrInterrupted", err)
				}
				got, err := runTo(t, dir, cfg, context.Background(), nil, true)
				if err != nil {
					t.Fatal(err)
				}
				if err := runcheck.SameRun(straight, dir); err != nil {
					t.Error(err)
				}
				if got.After != want.After || got.Last != want.Last || got.BestStep != want.BestStep {
					t.Errorf("results: best %+v at %d, last %+v; uninterrupted %+v at %d, %+v", got.After, got.BestStep, got.Last, want.After, want.BestStep, want.Last)
				}
			})
		}
	}
}

func TestRunDirProtection(t *testing.T) {
	cfg := smallConfig(MethodLoRA)
	cfg.Train = agents.DefaultTrainConfig(4)
	cfg.Train.BatchSize = 4
	dir := t.TempDir()
	if _, err := runTo(t, dir, cfg, context.Background(), nil, false); err != nil {
		t.Fatal(err)
	}
	// A second New into the same directory refuses without Overwrite.
	m, tasks, data := fixture(t)
	if _, err := New(context.Background(), m, tasks, data, cfg, Options{RunDir: dir}); err == nil || !strings.Contains(err.Error(), "already holds a run") {
		t.Errorf("New over a finished run: %v, want a refusal", err)
	}
	// Resume with a changed learning rate names it; a longer budget is allowed.
	changed := cfg
	changed.Train.Schedule.LR *= 2
	m, tasks, data = fixture(t)
	if _, err := Resume(context.Background(), dir, m, tasks, data, changed, Options{}); err == nil || !strings.Contains(err.Error(), "train.schedule.lr") {
		t.Errorf("Resume with another learning rate: %v, want an error naming train.schedule.lr", err)
	}
	longer := cfg
	longer.Train.Steps, longer.Train.Schedule.TotalSteps = 8, 8
	m, tasks, data = fixture(t)
	tu, err := Resume(context.Background(), dir, m, tasks, data, longer, Options{})
	if err != nil {
		t.Fatalf("Resume with a longer budget: %v", err)
	}
	if res, err := tu.Learn(context.Background(), nil); err != nil || res.Steps != 8 {
		t.Errorf("resumed longer run: %v, steps %v", err, res)
	}
	// Resume of a directory without a checkpoint says so.
	m, tasks, data = fixture(t)
	if _, err := Resume(context.Background(), t.TempDir(), m, tasks, data, cfg, Options{}); !errors.Is(err, ErrNoCheckpoint) {
		t.Errorf("Resume without a checkpoint: %v, want ErrNoCheckpoint", err)
	}
}

// An adapter config that attach would refuse is refused by New before it claims
// the run directory or evaluates anything: a typo in the config costs nothing.
func TestAdapterConfigRefusedFirst(t *testing.T) {
	tests := []struct {
		name, method string
		edit         func(*Config)
		want         string
	}{
		{"unknown target", MethodLoRA, func(c *Config) { c.LoRA.TargetModules = []string{"attn.qq"} }, `target_modules entry "attn.qq"`},
		{"rank above the widest side", MethodPiSSA, func(c *Config) { c.LoRA.R = 1000 }, "r = 1000 exceeds"},
		{"rank pattern matches no target", MethodOLoRA, func(c *Config) { c.LoRA.RankPattern = map[string]int{"head": 2} }, `rank_pattern key "head"`},
		{"eva without a Linear target", MethodEVA, func(c *Config) { c.LoRA.TargetModules = []string{"embed_timestep"} }, "select no Linear layer"},
		{"eva minibatch too large", MethodEVA, func(c *Config) { c.EVA.Batch = 1 << 40 }, "eva.batch = "},
	}
	// EVA's ranks come from the pass, which keeps at most a layer's input width:
	// a nominal r above it is what EVA will redistribute, not an error.
	eva := smallConfig(MethodEVA)
	eva.LoRA.R, eva.LoRA.Alpha, eva.EVA.Rho, eva.EVA.Batch = 20, 20, 1, 8
	m, tasks, data := fixture(t)
	if _, err := New(context.Background(), m, tasks, data, eva, Options{}); err != nil {
		t.Errorf("eva with r above the layers' width: %v, want it accepted", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := smallConfig(tt.method)
			tt.edit(&cfg)
			m, tasks, data := fixture(t)
			dir := filepath.Join(t.TempDir(), "run")
			_, err := New(context.Background(), m, tasks, data, cfg, Options{RunDir: dir})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tt.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Errorf("the refused run left %d entries in its directory (%s, …)", len(entries), entries[0].Name())
			}
		})
	}
}

// Data whose episodes are longer than the policy's timestep embedding is warned
// about, with both lengths; data that fits is not.
func TestWarnsAboutEpisodesPastMaxEpisodeLen(t *testing.T) {
	for _, maxLen := range []int{8, 64} {
		m, tasks, data := fixture(t)
		mc := m.Config()
		mc.MaxEpisodeLen = maxLen
		short, err := policy.New(mc, rand.New(rand.NewPCG(1, 2)), nn.GonumGemm{})
		if err != nil {
			t.Fatal(err)
		}
		log, hook := logtest.NewNullLogger()
		if _, err := New(context.Background(), short, tasks, data, smallConfig(MethodLoRA), Options{Log: log}); err != nil {
			t.Fatal(err)
		}
		longest := agents.LongestEpisode(data)
		if longest <= 8 || longest > 64 {
			t.Fatalf("the fixture's longest episode has %d steps; the test needs 9 to 64", longest)
		}
		var warned bool
		for _, e := range hook.AllEntries() {
			if e.Level == logrus.WarnLevel && strings.Contains(e.Message, "max_episode_len") {
				warned = e.Data["longest_episode"] == longest && e.Data["max_episode_len"] == maxLen
			}
		}
		if want := longest > maxLen; warned != want {
			t.Errorf("max_episode_len %d, longest episode %d: warned %v, want %v", maxLen, longest, warned, want)
		}
	}
}

// Data recorded with a validation or test seed is refused.
func TestDataSeedsDisjoint(t *testing.T) {
	m, tasks, data := fixture(t)
	cfg := smallConfig(MethodLoRA)
	data[3].Seed = cfg.Eval.TestSeed + 2
	if _, err := New(context.Background(), m, tasks, data, cfg, Options{}); err == nil || !strings.Contains(err.Error(), "test seeds") {
		t.Errorf("data with a test seed: %v, want a refusal naming the test seeds", err)
	}
}

// The best adapter, loaded as a user loads it (merged), acts as the adapted model.
func TestLoadPolicyMergesTheAdapter(t *testing.T) {
	cfg := smallConfig(MethodLoRA)
	dir := t.TempDir()
	m, tasks, data := fixture(t)
	base, err := m.Clone(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := base.Save(filepath.Join(dir, "base")); err != nil {
		t.Fatal(err)
	}
	tu, err := New(context.Background(), m, tasks, data, cfg, Options{RunDir: filepath.Join(dir, "run")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tu.Learn(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	merged, err := LoadPolicy(filepath.Join(dir, "base"), filepath.Join(dir, "run", "last"), nn.GonumGemm{})
	if err != nil {
		t.Fatal(err)
	}
	tu.Model().SetTrain(false)
	tu.Adapters().SetTrain(false)
	b := policy.NewBatch(m.Config(), len(data))
	s, err := replay.NewSampler(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sample(rand.New(rand.NewPCG(3, 3)), b); err != nil {
		t.Fatal(err)
	}
	for w := 0; w < b.B; w++ {
		b.Mask[w*b.K+b.K-1] = true
	}
	got, want := make([]float32, b.B), make([]float32, b.B)
	if err := merged.Act(b, true, nil, got); err != nil {
		t.Fatal(err)
	}
	if err := tu.Model().Act(b, true, nil, want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("merged policy acts %v, the adapted one %v", got, want)
	}
}

package finetune_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/evarl/evarl/agents"
	"github.com/evarl/evarl/agents/collect"
	"github.com/evarl/evarl/agents/finetune"
	"github.com/evarl/evarl/envs"
	_ "github.com/evarl/evarl/envs/all" // register the environments
	"github.com/evarl/evarl/nn"
)

// Example does what `rl-train run` does, from library code, on a tiny budget: load
// the shipped gridworld policy, collect the target task's data with the scripted
// expert, fine-tune rank-4 LoRA adapters initialised by EVA from the policy's own
// rollouts, evaluate on test seeds, then reload the saved adapter merged into the
// base, as a user deploys it, and check that it acts as the adapter it was trained
// as.
func Example() {
	ctx := context.Background()
	gemm := nn.GonumGemm{} // or nn.DefaultGemm(log): OpenBLAS when installed
	base, err := finetune.LoadPolicy("../../pretrained/gridworld", "", gemm)
	if err != nil {
		fmt.Println(err)
		return
	}
	tasks, err := envs.ResolveTasks("gridworld/heldout-04") // a maze with permuted actions
	if err != nil {
		fmt.Println(err)
		return
	}
	data, err := collect.Episodes(ctx, tasks, 8, 0.25, 0, 8) // 8 episodes at expert noise 0.25
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg := finetune.DefaultConfig()                   // method eva, offline
	cfg.LoRA.R, cfg.LoRA.Alpha, cfg.EVA.Rho = 4, 4, 1 // rho 1: every layer keeps rank 4
	cfg.EVA.RolloutEpisodes, cfg.EVA.MaxBatches, cfg.EVA.AcceptUnconverged = 4, 20, true
	cfg.Train = agents.DefaultTrainConfig(10)
	cfg.Train.BatchSize = 8
	cfg.Eval.Every, cfg.Eval.Episodes, cfg.Eval.TestEpisodes = 5, 2, 4
	runDir, err := os.MkdirTemp("", "example-run-*")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(runDir)

	tuner, err := finetune.New(ctx, base, tasks, data, cfg, finetune.Options{RunDir: runDir, Base: "pretrained/gridworld"})
	if err != nil {
		fmt.Println(err)
		return
	}
	total, trainable := tuner.Counts()
	fmt.Printf("EVA adapted %d layers: %d of %d parameters train\n", len(tuner.Adapters().Adapters), trainable, total)
	res, err := tuner.Learn(ctx, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d updates; the base, best and last checkpoints each ran %d test episodes\n", res.Steps, res.PerTask["best"][0].Count)

	// Deploy: base + adapter, merged.
	deployed, err := finetune.LoadPolicy("../../pretrained/gridworld", filepath.Join(runDir, "last"), gemm)
	if err != nil {
		fmt.Println(err)
		return
	}
	ec := agents.EvalConfig{Episodes: 3, Targets: []float64{1}, NumEnvs: 3, Seed: agents.TestSeeds, Greedy: true}
	a, err := agents.Evaluate(ctx, deployed, tasks, ec, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	tuner.Model().SetTrain(false)
	b, err := agents.Evaluate(ctx, tuner.Model(), tasks, ec, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("the merged adapter acts as the trained one:", slices.Equal(a[0].Lengths, b[0].Lengths) && slices.Equal(a[0].Returns, b[0].Returns))
	// Output:
	// EVA adapted 12 layers: 9216 of 146627 parameters train
	// 10 updates; the base, best and last checkpoints each ran 4 test episodes
	// the merged adapter acts as the trained one: true
}

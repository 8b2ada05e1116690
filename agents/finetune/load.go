package finetune

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/evarl/evarl/envs"
	"github.com/evarl/evarl/lora"
	"github.com/evarl/evarl/nn"
	"github.com/evarl/evarl/policy"
	"github.com/evarl/evarl/replay"
)

// LoadPolicy loads a policy ready to act: the checkpoint directory (config.json +
// model.safetensors: a pretrained policy or a full fine-tune's checkpoint) and, when
// adapter is not empty, the LoRA adapter directory (adapter_config.json +
// adapter_model.safetensors) attached to it and merged into its weights — PEFT's
// from_pretrained followed by merge_and_unload. The merged policy computes what the
// adapted one did, as fast as the base (unmerged adapters cost a product per layer).
// gemm is the matrix backend (nil: nn.DefaultGemm's choice, logged nowhere).
func LoadPolicy(checkpoint, adapter string, gemm nn.Gemm) (*policy.Model, error) {
	return LoadPolicyWith(checkpoint, adapter, LoadOptions{Gemm: gemm})
}

// LoadOptions are LoadPolicyWith's options.
type LoadOptions struct {
	// Gemm is the matrix backend (nil: nn.DefaultGemm's choice, logged nowhere).
	Gemm nn.Gemm
	// AllowUnverified loads a checkpoint or adapter that carries no evarl checksums
	// (one written by another tool, or by an older evarl); checksums that are present
	// are verified regardless (docs/file-integrity.md).
	AllowUnverified bool
}

// LoadPolicyWith is LoadPolicy with options.
func LoadPolicyWith(checkpoint, adapter string, opts LoadOptions) (*policy.Model, error) {
	gemm := opts.Gemm
	if st, err := os.Stat(checkpoint); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("checkpoint %s: not a directory; want a policy checkpoint directory with %s and %s",
			checkpoint, policy.ConfigFile, policy.WeightsFile)
	}
	if gemm == nil {
		g, err := nn.DefaultGemm(quietLogger())
		if err != nil {
			return nil, err
		}
		gemm = g
	}
	model, err := policy.LoadWith(checkpoint, gemm, policy.LoadOptions{AllowUnverified: opts.AllowUnverified})
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", checkpoint, err)
	}
	if adapter == "" {
		return model, nil
	}
	return mergeAdapter(model, adapter, opts.AllowUnverified)
}

// mergeAdapter attaches the adapter in dir to model and merges it.
func mergeAdapter(model *policy.Model, dir string, allowUnverified bool) (*policy.Model, error) {
	// The random source only seeds adapter dropout, which is off here.
	lm, err := lora.Load(dir, model, lora.Options{Rng: rand.New(rand.NewPCG(0, 0)), AllowUnverified: allowUnverified})
	if err != nil {
		return nil, fmt.Errorf("adapter %s: %w", dir, err)
	}
	if err := lm.MergeAndUnload(true); err != nil {
		return nil, fmt.Errorf("adapter %s: %w", dir, err)
	}
	model.SetTrain(false)
	return model, nil
}

// LoadData reads dataset files for a run on tasks: every episode must come from an
// environment of the tasks (episodes of other tasks of the same environments are
// kept; New ignores them). opts is passed to replay.Open (AllowTruncatedTail to use
// the complete episodes of a file whose last record a crash tore).
func LoadData(paths []string, tasks []envs.Task, opts replay.Options) ([]*replay.Episode, error) {
	if len(paths) == 0 {
		return nil, errors.New("no dataset files given (datasets)")
	}
	allowed := map[string]bool{}
	var names []string
	for _, t := range tasks {
		if !allowed[t.EnvID] {
			names = append(names, t.EnvID)
		}
		allowed[t.EnvID] = true
	}
	var eps []*replay.Episode
	for _, p := range paths {
		d, err := replay.Open(p, opts)
		if err != nil {
			return nil, err
		}
		for i, ep := range d.Episodes {
			if !allowed[ep.EnvID] {
				return nil, fmt.Errorf("dataset %s: episode %d is from environment %s, not one of the tasks' (%s)", p, i, ep.EnvID, strings.Join(names, ", "))
			}
		}
		eps = append(eps, d.Episodes...)
	}
	return eps, nil
}

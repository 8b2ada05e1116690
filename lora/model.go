package lora

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/evarl/evarl/nn"
)

// Base is what lora needs from a model (policy.Model has both methods): its linear
// layers, by name, and all its parameters, to freeze them and fingerprint them.
type Base interface {
	Linears() []*nn.Linear
	Params() *nn.Params
}

// Options carries what an init method needs beyond the config.
type Options struct {
	// Rng draws random/gaussian initialisations and seeds each adapter's dropout
	// stream. Required unless every adapter is pissa/olora/eva-initialised and
	// dropout is 0.
	Rng *rand.Rand
	// EvaA holds, for init "eva", each adapted layer's lora_A rows (rank×in,
	// row-major), as eva.Apply builds them from an EVA state; layers whose rank is 0
	// get no adapter and need no entry.
	EvaA map[string][]float32
}

// Model is a base model with adapters attached. The base parameters are frozen; the
// adapters' A and B are the trainable parameters (Params).
type Model struct {
	// Config is the configuration the adapters were built from.
	Config Config
	// Adapters are in the order of the base model's linear layers.
	Adapters []*Adapter

	base        Base
	params      nn.Params
	fingerprint string
	// initial A and B of pissa/olora adapters, whose base weights hold a residual:
	// Save converts them so the file applies to the unmodified base model.
	initial map[string][2][]float32
	// trainability of the base parameters before attach, for rollback
	wasTrainable map[*nn.Param]bool
	// modules_to_save parameters and their values at attach, restored by Detach
	saved    []*nn.Param
	original [][]float32
}

// Apply attaches adapters to the base model's target layers, initialises them with
// cfg.Init and freezes every base parameter. With init random, gaussian or eva the
// adapted model computes exactly what the base model did (B = 0); pissa and olora
// move part of W into the adapter and keep the sum.
func Apply(base Base, cfg Config, opt Options) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := attach(base, cfg, opt.Rng)
	if err != nil {
		return nil, err
	}
	for _, a := range m.Adapters {
		var err error
		switch cfg.Init {
		case InitRandom, InitGaussian:
			if opt.Rng == nil {
				err = fmt.Errorf("lora: init %q needs a random source (Options.Rng)", cfg.Init)
			} else if cfg.Init == InitRandom {
				a.initRandom(opt.Rng)
			} else {
				a.initGaussian(opt.Rng)
			}
		case InitPiSSA, InitOLoRA:
			if cfg.Init == InitPiSSA {
				err = a.initPiSSA()
			} else {
				err = a.initOLoRA()
			}
			if err == nil {
				m.initial[a.Layer.Name] = [2][]float32{append([]float32(nil), a.A.Data...), append([]float32(nil), a.B.Data...)}
			}
		case InitEVA:
			rows, ok := opt.EvaA[a.Layer.Name]
			if !ok {
				err = fmt.Errorf("lora: layer %s has rank %d but no EVA initialisation; compute the EVA state for the same target layers", a.Layer.Name, a.R)
			} else {
				err = a.initPreset(rows)
			}
		}
		if err != nil {
			m.rollback()
			return nil, err
		}
	}
	return m, nil
}

// attach creates zero adapters on the target layers and freezes the base. It leaves
// the base model as it found it on error.
func attach(base Base, cfg Config, rng *rand.Rand) (*Model, error) {
	m := &Model{Config: cfg, base: base, fingerprint: Fingerprint(base.Params()), initial: map[string][2][]float32{}}
	var matched []string
	for _, l := range base.Linears() {
		if !cfg.Targets(l.Name) {
			continue
		}
		matched = append(matched, l.Name)
		r := cfg.RankFor(l.Name)
		if r == 0 {
			continue // rank 0 (e.g. from EVA): no adapter
		}
		if l.Adapter != nil {
			return nil, fmt.Errorf("lora: layer %s already has an adapter", l.Name)
		}
		alpha := cfg.AlphaFor(l.Name)
		var drng *rand.Rand
		if cfg.Dropout > 0 {
			if rng == nil {
				return nil, fmt.Errorf("lora: dropout %v needs a random source (Options.Rng)", cfg.Dropout)
			}
			drng = rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
		}
		m.Adapters = append(m.Adapters, newAdapter(l, r, alpha, cfg.Scale(r, alpha), cfg.Dropout, drng))
	}
	if len(matched) == 0 {
		var names []string
		for _, l := range base.Linears() {
			names = append(names, l.Name)
		}
		return nil, fmt.Errorf("lora: target_modules %v / target_regex %q match none of the model's linear layers (%s)",
			cfg.TargetModules, cfg.TargetRegex, strings.Join(names, ", "))
	}
	for _, a := range m.Adapters {
		a.Layer.Adapter = a
		m.params.Add(a.A, a.B)
	}
	m.wasTrainable = map[*nn.Param]bool{}
	for _, p := range base.Params().All() {
		m.wasTrainable[p] = p.Trainable()
		p.SetTrainable(false)
		if cfg.SavesModule(p.Name) {
			p.SetTrainable(true)
			m.saved = append(m.saved, p)
			m.original = append(m.original, append([]float32(nil), p.Data...))
			m.params.Add(p)
		}
	}
	if len(cfg.ModulesToSave) > 0 && len(m.saved) == 0 {
		m.rollback()
		return nil, fmt.Errorf("lora: modules_to_save %v match no parameter of the model", cfg.ModulesToSave)
	}
	return m, nil
}

// rollback undoes attach and any pissa/olora residual, for a failed Apply or Load.
func (m *Model) rollback() {
	for _, a := range m.Adapters {
		if _, ok := m.initial[a.Layer.Name]; ok {
			for i, v := range a.Delta() {
				a.Layer.W.Data[i] += v
			}
		}
	}
	m.Detach()
	for p, on := range m.wasTrainable {
		p.SetTrainable(on)
	}
}

// Params returns the trainable parameters: every adapter's A and B, in layer order,
// then the parameters of modules_to_save.
func (m *Model) Params() *nn.Params { return &m.params }

// Adapter returns the adapter on the named layer.
func (m *Model) Adapter(layer string) (*Adapter, bool) {
	for _, a := range m.Adapters {
		if a.Layer.Name == layer {
			return a, true
		}
	}
	return nil, false
}

// Fingerprint returns the base model's fingerprint recorded when the adapters were
// attached (before pissa/olora changed any weight).
func (m *Model) Fingerprint() string { return m.fingerprint }

// SetTrain switches adapter dropout on (training) or off (evaluation).
func (m *Model) SetTrain(on bool) {
	for _, a := range m.Adapters {
		a.training = on
	}
}

// Merge folds every adapter into its base weight (see Adapter.Merge). On error the
// adapters merged so far are unmerged again, so the model is left as it was.
func (m *Model) Merge(safe bool) error {
	for i, a := range m.Adapters {
		if err := a.Merge(safe); err != nil {
			for _, b := range m.Adapters[:i] {
				_ = b.Unmerge()
			}
			return err
		}
	}
	return nil
}

// Unmerge subtracts every merged adapter from its base weight.
func (m *Model) Unmerge() error {
	for _, a := range m.Adapters {
		if a.merged {
			if err := a.Unmerge(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Detach removes the adapters from the base layers (unmerging merged ones) and puts
// the modules_to_save parameters back to their values at attach. The base
// parameters stay frozen, and pissa/olora residuals stay in the base weights.
func (m *Model) Detach() {
	_ = m.Unmerge()
	for _, a := range m.Adapters {
		if a.Layer.Adapter == a {
			a.Layer.Adapter = nil
		}
	}
	for i, p := range m.saved {
		copy(p.Data, m.original[i])
		p.SetTrainable(false)
	}
}

// Report counts parameters like PEFT's print_trainable_parameters.
type Report struct {
	// Trainable counts adapter parameters and any base parameter left trainable
	// (modules_to_save); Total counts base and adapter parameters.
	Trainable, Total int
}

// Report returns the trainable (adapters and modules_to_save) and total (base +
// adapter) parameter counts.
func (m *Model) Report() Report {
	total, trainable := m.base.Params().Count()
	at := 0
	for _, a := range m.Adapters {
		at += a.A.Size() + a.B.Size()
	}
	return Report{Trainable: trainable + at, Total: total + at}
}

// String formats the report as PEFT does.
func (r Report) String() string {
	pct := 0.0
	if r.Total > 0 {
		pct = 100 * float64(r.Trainable) / float64(r.Total)
	}
	return fmt.Sprintf("trainable params: %s || all params: %s || trainable%%: %.4f", commas(r.Trainable), commas(r.Total), pct)
}

func commas(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Fingerprint identifies a base model by a SHA-256 over its parameters' names,
// shapes and float32 bits in registration order: an adapter saved on one checkpoint
// is refused on any other.
func Fingerprint(ps *nn.Params) string {
	h := sha256.New()
	var buf [8]byte
	for _, p := range ps.All() {
		h.Write([]byte(p.Name))
		h.Write([]byte{0})
		for _, s := range p.Shape {
			binary.LittleEndian.PutUint64(buf[:], uint64(s))
			h.Write(buf[:])
		}
		b := make([]byte, 4*len(p.Data))
		for i, v := range p.Data {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		h.Write(b)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

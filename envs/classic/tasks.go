package classic

import (
	"fmt"

	"github.com/evarl/evarl/envs"
)

// Task sets. Each family has a pretraining set of 16 variants on a grid around
// Gymnasium's defaults and a held-out set whose parameters lie outside the
// pretraining ranges (extrapolation), chosen so that the scripted experts still solve
// them (agents/expert tests prove it).

// grid builds the 4×4 pretraining variants over two options.
func grid(family, envID, keyA string, valsA []float64, keyB string, valsB []float64) envs.TaskSet {
	set := envs.TaskSet{Family: family, Name: "pretrain"}
	for _, a := range valsA {
		for _, b := range valsB {
			set.Tasks = append(set.Tasks, envs.Task{
				ID:      fmt.Sprintf("%s/pretrain-%02d", family, len(set.Tasks)),
				EnvID:   envID,
				Options: envs.Options{keyA: a, keyB: b},
			})
		}
	}
	return set
}

// heldout numbers the given option sets as family/heldout-NN.
func heldout(family, envID string, variants ...envs.Options) envs.TaskSet {
	set := envs.TaskSet{Family: family, Name: "heldout"}
	for i, o := range variants {
		set.Tasks = append(set.Tasks, envs.Task{ID: fmt.Sprintf("%s/heldout-%02d", family, i), EnvID: envID, Options: o})
	}
	return set
}

// taskSets lists every classic-control task set.
func taskSets() []envs.TaskSet {
	return []envs.TaskSet{
		// CartPole: half-length 0.3–0.75 m, pole mass 0.05–0.2 kg; held out: reversed
		// pushes (negative force_mag: action 1 pushes left) on the default cart-pole,
		// a long heavy pole under a weaker push, a very long pole under a very weak
		// push, and a heavy cart with a longer pole under a stronger push. Physics
		// changes alone do not make robust held-out tasks: the shipped policy balances
		// longer and heavier poles (half-length 1.2–1.6, pole mass 0.3–0.5), weaker
		// pushes, gravity 12–20 and cart masses 0.3–5 (100 normalised); it fails very
		// long poles under weak pushes (half-length 2 or 3, push 1.5 or 2: 61 and −2),
		// but a DT pretrained for only 50 updates balances those (100), so they
		// measure one policy's accident rather than adaptation. Every policy trained
		// on the usual pushes fails the reversed ones (normalised −10 to −4).
		grid("cartpole", CartPoleID, "length", []float64{0.3, 0.45, 0.6, 0.75}, "masspole", []float64{0.05, 0.1, 0.15, 0.2}),
		heldout("cartpole", CartPoleID,
			envs.Options{"force_mag": -10.0},
			envs.Options{"length": 1.6, "masspole": 0.3, "force_mag": -7.0},
			envs.Options{"length": 2.0, "force_mag": -1.5},
			envs.Options{"masscart": 2.0, "length": 1.0, "force_mag": -12.0},
		),
		// MountainCar: push 0.001–0.0013, gravity 0.0022–0.0028; held out: a much
		// stronger engine against stronger or weaker gravity.
		grid("mountaincar", MountainCarID, "force", []float64{0.001, 0.0011, 0.0012, 0.0013}, "gravity", []float64{0.0022, 0.0024, 0.0026, 0.0028}),
		heldout("mountaincar", MountainCarID,
			envs.Options{"force": 0.0015, "gravity": 0.0025},
			envs.Options{"force": 0.0017, "gravity": 0.0032},
			envs.Options{"force": 0.0014, "gravity": 0.0018},
			envs.Options{"force": 0.002, "gravity": 0.0036},
		),
		// MountainCarContinuous: power 0.0013–0.0018, gravity 0.0022–0.0028; held out
		// outside both ranges.
		grid("mountaincarcontinuous", MountainCarContinuousID, "power", []float64{0.0013, 0.0014, 0.0016, 0.0018}, "gravity", []float64{0.0022, 0.0024, 0.0026, 0.0028}),
		heldout("mountaincarcontinuous", MountainCarContinuousID,
			envs.Options{"power": 0.0022, "gravity": 0.0025},
			envs.Options{"power": 0.0025, "gravity": 0.0034},
			envs.Options{"power": 0.0021, "gravity": 0.0018},
			envs.Options{"power": 0.003, "gravity": 0.004},
		),
		// Acrobot: link masses 0.8–1.2 kg; held out: heavier links, a light upper link
		// under a heavy lower one, and other link lengths.
		grid("acrobot", AcrobotID, "link_mass_1", []float64{0.8, 0.93, 1.07, 1.2}, "link_mass_2", []float64{0.8, 0.93, 1.07, 1.2}),
		heldout("acrobot", AcrobotID,
			envs.Options{"link_mass_1": 1.5, "link_mass_2": 1.3},
			envs.Options{"link_mass_1": 0.6, "link_mass_2": 1.4},
			envs.Options{"link_mass_1": 1.5, "link_mass_2": 0.6, "link_length_1": 1.3},
			envs.Options{"link_mass_1": 1.4, "link_mass_2": 1.4, "link_length_1": 0.8},
			envs.Options{"link_length_2": 1.3},
		),
		// Pendulum: mass 0.8–1.2, length 0.8–1.2; held out: stronger gravity (more
		// swings before the top), heavier with more torque, longer under weaker
		// gravity, heavier and longer. Lighter and shorter pendulums are no held-out
		// task: the shipped policy scores 99 normalised on them zero-shot.
		grid("pendulum", PendulumID, "m", []float64{0.8, 0.93, 1.07, 1.2}, "l", []float64{0.8, 0.93, 1.07, 1.2}),
		heldout("pendulum", PendulumID,
			envs.Options{"m": 1.0, "l": 1.0, "g": 15.0},
			envs.Options{"m": 1.6, "l": 1.0, "max_torque": 3.0},
			envs.Options{"m": 1.0, "l": 1.5, "g": 6.0},
			envs.Options{"m": 1.3, "l": 1.6, "max_torque": 2.5},
		),
	}
}

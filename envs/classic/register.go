package classic

import (
	"math"

	"github.com/evarl/evarl/envs"
)

// Registration of the five environments with Gymnasium's limits and thresholds
// (specs.json in testdata/gymnasium).
func init() {
	envs.Register(envs.Spec{
		ID: CartPoleID, Family: "cartpole", MaxEpisodeSteps: 500, RewardThreshold: 475,
		Description: "balance a pole on a cart by pushing it left or right",
		New:         func(o envs.Options) (envs.Env, error) { return NewCartPole(o) },
	})
	envs.Register(envs.Spec{
		ID: MountainCarID, Family: "mountaincar", MaxEpisodeSteps: 200, RewardThreshold: -110,
		Description: "drive an underpowered car up a hill by building momentum (discrete)",
		New:         func(o envs.Options) (envs.Env, error) { return NewMountainCar(o) },
	})
	envs.Register(envs.Spec{
		ID: MountainCarContinuousID, Family: "mountaincarcontinuous", MaxEpisodeSteps: 999, RewardThreshold: 90,
		Description: "drive an underpowered car up a hill by building momentum (continuous)",
		New:         func(o envs.Options) (envs.Env, error) { return NewMountainCarContinuous(o) },
	})
	envs.Register(envs.Spec{
		ID: AcrobotID, Family: "acrobot", MaxEpisodeSteps: 500, RewardThreshold: -100,
		Description: "swing a two-link pendulum's tip above a line by torquing the joint",
		New:         func(o envs.Options) (envs.Env, error) { return NewAcrobot(o) },
	})
	envs.Register(envs.Spec{
		ID: PendulumID, Family: "pendulum", MaxEpisodeSteps: 200, RewardThreshold: math.NaN(),
		Description: "swing a pendulum up and keep it upright with limited torque",
		New:         func(o envs.Options) (envs.Env, error) { return NewPendulum(o) },
	})
	for _, set := range taskSets() {
		envs.RegisterTaskSet(set)
	}
}

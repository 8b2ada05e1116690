package agents

// Recorder receives a run's metrics as they are produced: a row of named values at
// an update count. Library code reports through it and never prints by itself
// (gonum's optimize.Recorder is the model); a caller writes rows to a file, draws a
// progress bar or forwards them to its own tracker. values is only valid during the
// call: copy what you keep.
type Recorder interface {
	Record(step int, values map[string]float64) error
}

// Recorders fans rows out to several recorders, in order; nil entries are skipped.
type Recorders []Recorder

// Record passes the row to every recorder and stops at the first error.
func (rs Recorders) Record(step int, values map[string]float64) error {
	for _, r := range rs {
		if r == nil {
			continue
		}
		if err := r.Record(step, values); err != nil {
			return err
		}
	}
	return nil
}

// RecorderFunc adapts a function to Recorder.
type RecorderFunc func(step int, values map[string]float64) error

// Record calls f.
func (f RecorderFunc) Record(step int, values map[string]float64) error { return f(step, values) }

// Metric names, namespaced as CleanRL names them: what a training row, an evaluation
// row and an online iteration report.
const (
	// Training rows, every LoopConfig.LogEvery updates: means over the updates since
	// the previous row, and the learning rate of the last one.
	MetricTrainLoss     = "train/loss"
	MetricTrainGradNorm = "train/grad_norm"
	MetricTrainLR       = "train/lr"
	MetricElapsed       = "time/elapsed_s"

	// Evaluation rows (validation seeds): the checkpoint score and its parts.
	MetricEvalScore      = "eval/score"
	MetricEvalReturn     = "eval/return"
	MetricEvalNormalized = "eval/normalized"
	MetricEvalSuccess    = "eval/success_rate"
	MetricEvalSeconds    = "time/eval_s"

	// Online fine-tuning (Online Decision Transformer), in every training row: the
	// iteration the row's last update belongs to (−1: the offline phase), the means
	// of that iteration's exploration episodes, what the replay buffer holds (the
	// online trajectories' share of its transitions, the mean returns of the online
	// and of the offline trajectories), the temperature λ after the update and the
	// policy's entropy on the update's batch.
	MetricOnlineIteration     = "online/iteration"
	MetricExploreReturn       = "online/explore_return"
	MetricExploreSuccess      = "online/explore_success_rate"
	MetricExploreLength       = "online/explore_length"
	MetricBufferOnlineShare   = "online/buffer_online_share"
	MetricBufferOnlineReturn  = "online/buffer_online_return"
	MetricBufferOfflineReturn = "online/buffer_offline_return"
	MetricTemperature         = "online/temperature"
	MetricEntropy             = "online/entropy"
)

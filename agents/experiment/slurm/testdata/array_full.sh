#!/bin/bash
#SBATCH --job-name=evarl-cmp
#SBATCH --array=0-2,5,7-9%16
#SBATCH --output=/shared/evarl/runs/cmp/slurm/logs/run-%a.log
#SBATCH --open-mode=append
#SBATCH --partition=cpu
#SBATCH --account=rl-lab
#SBATCH --time=2:00:00
#SBATCH --cpus-per-task=4
#SBATCH --mem=8G
#SBATCH --signal=B:TERM@300
#SBATCH --no-requeue
#SBATCH --qos=long
#SBATCH --constraint=avx2
# evarl experiment, one array task per run: the array index is the run's index in the plan.
# Written by rl-train experiment --slurm.
set -e
module load openblas
export EVARL_BLAS="openblas"
cd /shared/evarl
# The run's goroutines use the task's CPUs; evarl calls OpenBLAS from each of them
# single-threaded, the fastest split (package nn, OpenBLASGemm).
export GOMAXPROCS="${SLURM_CPUS_PER_TASK:-1}" OPENBLAS_NUM_THREADS=1
echo "evarl: slurm job ${SLURM_JOB_ID:-?} (array task ${SLURM_ARRAY_JOB_ID:-?}_${SLURM_ARRAY_TASK_ID:-?}) on $(hostname) at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
exec /shared/evarl/bin/rl-train experiment /shared/evarl/runs/cmp/slurm/config-0123456789ab.yaml --run "$SLURM_ARRAY_TASK_ID"

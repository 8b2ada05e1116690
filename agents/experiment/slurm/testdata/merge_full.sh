#!/bin/bash
#SBATCH --job-name=evarl-cmp-merge
#SBATCH --output=/shared/evarl/runs/cmp/slurm/logs/merge-%j.log
#SBATCH --open-mode=append
#SBATCH --partition=cpu
#SBATCH --account=rl-lab
#SBATCH --time=2:00:00
#SBATCH --cpus-per-task=1
#SBATCH --mem=8G
#SBATCH --qos=long
#SBATCH --constraint=avx2
# evarl experiment, merge of the runs' results into out_dir.
# Written by rl-train experiment --slurm.
set -e
module load openblas
export EVARL_BLAS="openblas"
cd /shared/evarl
# The run's goroutines use the task's CPUs; evarl calls OpenBLAS from each of them
# single-threaded, the fastest split (package nn, OpenBLASGemm).
export GOMAXPROCS="${SLURM_CPUS_PER_TASK:-1}" OPENBLAS_NUM_THREADS=1
echo "evarl: slurm job ${SLURM_JOB_ID:-?} on $(hostname) at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
exec /shared/evarl/bin/rl-train experiment /shared/evarl/runs/cmp/slurm/config-0123456789ab.yaml --merge

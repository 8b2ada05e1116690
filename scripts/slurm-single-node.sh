#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, from Debian's packages, for trying and
# testing `rl-train experiment --slurm` (CI runs it). Needs root and Debian (apt-get);
# no systemd, no accounting daemon, no cgroups.
#
#   scripts/slurm-single-node.sh start DIR   # install, configure in DIR, start, wait until idle
#   export SLURM_CONF=DIR/slurm.conf         # what start prints: sbatch, squeue, … use it
#   scripts/slurm-single-node.sh stop DIR    # stop the daemons it started (PID files in DIR)
#
# Everything Slurm keeps (slurm.conf, state, spool, logs, PID files) goes into DIR;
# nothing under /etc/slurm is written. The daemons run as root and talk over the
# loopback address only. munged is started when it is not running (and left running by
# stop only if this script did not start it).
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$2

# stop_pid FILE NAME: TERM the process in FILE, wait up to 20 s, then KILL it.
stop_pid() {
  local file=$1 name=$2 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "slurm-single-node: $name (pid $pid) did not stop; killing it" >&2
      kill -9 "$pid" || true
    fi
  fi
  rm -f "$file"
}

case $cmd in
stop)
  stop_pid "$dir/slurmd.pid" slurmd
  stop_pid "$dir/slurmctld.pid" slurmctld
  stop_pid "$dir/munged.pid" munged
  exit 0
  ;;
start) ;;
*) usage ;;
esac

if [ "$(id -u)" != 0 ]; then
  echo "slurm-single-node: needs root (it starts munged, slurmctld and slurmd)" >&2
  exit 1
fi
if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi
for daemon in slurmctld slurmd; do
  if pid=$(pgrep -x -r R,S,D "$daemon"); then
    echo "slurm-single-node: $daemon already runs (pid $pid); stop it first" >&2
    exit 1
  fi
done
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
mkdir -p "$dir/state" "$dir/spool" "$dir/log"

# munge: the package creates the key; nothing creates its run directory.
mkdir -p /run/munge
chown munge:munge /run/munge
chmod 0755 /run/munge
if ! munge -n >/dev/null 2>&1; then
  runuser -u munge -- munged
  # munged writes its own PID file once it runs; keep a copy for stop.
  for _ in $(seq 1 20); do
    [ -s /run/munge/munged.pid ] && break
    sleep 0.25
  done
  cp /run/munge/munged.pid "$dir/munged.pid"
fi

# One node: slurmd -C prints its line (CPUs, sockets, memory). RealMemory is lowered
# so that the node never drains for reporting less memory than configured.
node=$(slurmd -C | head -n 1)
name=$(sed -n 's/^NodeName=\([^ ]*\).*/\1/p' <<<"$node")
mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
node=$(sed "s/RealMemory=[0-9]*/RealMemory=$((mem * 8 / 10))/; s/^NodeName=[^ ]*/NodeName=$name NodeAddr=127.0.0.1/" <<<"$node")
cat >"$dir/slurm.conf" <<EOF
# Written by scripts/slurm-single-node.sh: one node, no accounting, no cgroups.
ClusterName=evarl-single
SlurmctldHost=$name(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerParameters=batch_sched_delay=0
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MailProg=/bin/true
$node
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$dir/slurm.conf

slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 1 60); do
  if [ "$(sinfo -h -n "$name" -o %t 2>/dev/null)" = idle ]; then
    echo "export SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 0.5
done
echo "slurm-single-node: node $name is not idle after 30 s:" >&2
sinfo >&2 || true
tail -n 20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
exit 1

#!/usr/bin/env bash
# Starts a one-node Slurm cluster on this machine, for CI and for trying the job array before a
# real cluster: munged, slurmctld and slurmd, with their configuration, state and logs under DIR
# (default /tmp/pointlime-slurm), not /etc. Needs root and Debian's slurm-wlm and munge.
# Prints the line to export:
#
#   eval "$(deploy/slurm/local-cluster.sh [DIR])"     # sets SLURM_CONF
#   deploy/slurm/local-cluster.sh --stop [DIR]
set -euo pipefail
stop=0
if [ "${1:-}" = --stop ]; then
    stop=1
    shift
fi
dir=${1:-/tmp/pointlime-slurm}
conf=$dir/slurm.conf
if [ "$stop" = 1 ]; then
    for d in slurmd slurmctld; do
        pid=$(cat "$dir/$d.pid" 2>/dev/null || true)
        # A pidfile left by an earlier run may name a reused pid: only ever signal the daemon.
        [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$d" ] || continue
        kill "$pid" 2>/dev/null || true
        # Wait for it to let go of its port before a restart binds it again.
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    done
    exit 0
fi
for tool in munged slurmctld slurmd sinfo; do
    command -v "$tool" >/dev/null || { echo "$tool not found: install slurm-wlm and munge" >&2; exit 1; }
done
mkdir -p "$dir/state" "$dir/spool" "$dir/log"
host=$(hostname)
cpus=$(nproc)
# Leave a little memory to the system; Slurm refuses jobs that ask for more than RealMemory.
memory=$(awk '/MemTotal/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
cat >"$conf" <<CONF
ClusterName=pointlime
# Loopback addresses, so that the node name need not resolve.
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
# No cgroups in containers: track processes by parent id, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

# munged: one per machine; start it unless it already answers.
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    [ -f /etc/munge/munge.key ] || runuser -u munge -- mungekey --create
    runuser -u munge -- /usr/sbin/munged
fi
export SLURM_CONF=$conf
"$0" --stop "$dir"
# A throwaway cluster: start from clean state (-c), not from jobs of an earlier run.
slurmctld -c
slurmd
for _ in $(seq 1 50); do
    if sinfo -h -o %t 2>/dev/null | grep -q idle; then
        echo "export SLURM_CONF=$conf"
        exit 0
    fi
    sleep 0.2
done
echo "Slurm did not come up; see $dir/log/" >&2
exit 1

#!/usr/bin/env bash
# A throwaway, single ceph-mon on 127.0.0.1 for trying gomsgr (gomsgr-ceph,
# cmd/msgr2-capture, the ceph CLI) by hand. Tests do not use this script:
# they call internal/cephtest.StartMon, which sets up the same mon.
#
#   scripts/ceph-mon.sh start    # install if needed, start, print addresses
#   scripts/ceph-mon.sh env      # print export lines: eval "$(scripts/ceph-mon.sh env)"
#   scripts/ceph-mon.sh status   # is it running?
#   scripts/ceph-mon.sh stop     # stop it and remove its directory
#
# The mon lives in a temp dir under /tmp/gomsgr-ceph-mon/ (conf, data, logs,
# admin socket, pid file); /tmp/gomsgr-ceph-mon/current names that dir, so
# stop finds exactly the mon that start started. auth none, crc mode for all
# connections. Needs the Debian packages ceph-mon and ceph-common: run as
# root and start installs them (apt-get), otherwise it says how.
set -euo pipefail

STATE=/tmp/gomsgr-ceph-mon
CURRENT=$STATE/current
# The same lock file as internal/cephtest, so this and test binaries never
# run apt-get at the same time.
LOCK=${TMPDIR:-/tmp}/gomsgr-cephtest-install.lock
PACKAGES="ceph-mon ceph-common"
INSTALL_CMD="apt-get update && apt-get install -y $PACKAGES"

die() { echo "ceph-mon.sh: $*" >&2; exit 1; }

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/bin/$1" ]; }

missing_bins() {
	local b out=()
	for b in ceph-mon monmaptool ceph; do have "$b" || out+=("$b"); done
	echo "${out[*]:-}"
}

install_if_needed() {
	local missing
	missing=$(missing_bins)
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		die "$missing not found; install the Debian packages $PACKAGES (Ceph 16.2 pacific) as root:
	sudo sh -c '$INSTALL_CMD'"
	fi
	echo "ceph-mon.sh: installing $PACKAGES ($INSTALL_CMD)" >&2
	(
		flock 9
		if [ -n "$(missing_bins)" ]; then
			export DEBIAN_FRONTEND=noninteractive
			apt-get update >&2
			apt-get install -y $PACKAGES >&2
		fi
	) 9>"$LOCK"
	missing=$(missing_bins)
	[ -z "$missing" ] || die "$missing still not found after installing $PACKAGES"
}

# The mon's pid if the mon in dir $1 runs, else nothing.
mon_pid() {
	local dir=$1 pid
	[ -f "$dir/run/mon.a.pid" ] || return 0
	pid=$(cat "$dir/run/mon.a.pid" 2>/dev/null) || return 0
	[[ "$pid" =~ ^[0-9]+$ ]] || return 0
	# Only our ceph-mon: a pid may have been reused by another program.
	if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "ceph-mon -c $dir/ceph.conf"; then
		echo "$pid"
	fi
}

current_dir() { [ -f "$CURRENT" ] && cat "$CURRENT" || true; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A port below the kernel's ephemeral range that nothing listens on.
pick_port() {
	local low=16000 high p
	high=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	for _ in $(seq 100); do
		p=$((low + RANDOM % (high - low)))
		if [ "$p" != "${1:-}" ] && port_free "$p"; then echo "$p"; return 0; fi
	done
	die "no free port on 127.0.0.1"
}

write_conf() {
	local dir=$1 fsid=$2 p2=$3 p1=$4
	cat >"$dir/ceph.conf" <<EOF
# written by gomsgr scripts/ceph-mon.sh
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$p2,v1:127.0.0.1:$p1]
auth cluster required = none
auth service required = none
auth client required = none
ms_mode = crc
ms_client_mode = crc
ms_service_mode = crc
ms_cluster_mode = crc
ms_mon_client_mode = crc
ms_mon_service_mode = crc
ms_mon_cluster_mode = crc
run dir = $dir/run
log file = $dir/\$name.log
crash dir = $dir/crash
mon cluster log file = default=$dir/\$cluster.\$channel.log cluster=$dir/\$cluster.log
mon allow pool delete = true
mon data avail crit = 0
mon data avail warn = 0
ms bind retry count = 1
ms bind retry delay = 1

[mon]
mon data = $dir/data
admin socket = $dir/run/\$name.asok
pid file = $dir/run/\$name.pid
EOF
}

print_info() {
	local dir=$1 pid=$2
	local conf=$dir/ceph.conf
	local host fsid
	host=$(sed -n 's/^mon host = //p' "$conf")
	fsid=$(sed -n 's/^fsid = //p' "$conf")
	local v2=${host#\[v2:}; v2=${v2%%,*}
	local v1=${host##*,v1:}; v1=${v1%\]}
	cat <<EOF
mon.a running, pid $pid, dir $dir
v2 address: $v2
v1 address: $v1
mon host:   $host
fsid:       $fsid
conf:       $conf
log:        $dir/mon.a.log
export CEPH_CONF=$conf
try:  ceph -c $conf mon stat
stop: $0 stop
EOF
}

cmd_start() {
	local dir pid
	dir=$(current_dir)
	if [ -n "$dir" ]; then
		pid=$(mon_pid "$dir")
		if [ -n "$pid" ]; then
			echo "ceph-mon.sh: already running" >&2
			print_info "$dir" "$pid"
			return 0
		fi
		rm -rf -- "$dir" # a mon that died: start afresh
		rm -f "$CURRENT"
	fi
	install_if_needed
	mkdir -p "$STATE"
	dir=$(mktemp -d "$STATE/mon.XXXXXX")
	local fsid p2 p1 attempt ok=
	fsid=$(cat /proc/sys/kernel/random/uuid)
	for attempt in 1 2 3 4 5; do
		p2=$(pick_port)
		p1=$(pick_port "$p2")
		rm -rf -- "$dir/data" "$dir/run" "$dir/monmap" "$dir/mon.a.log"
		mkdir -p "$dir/run" "$dir/crash"
		write_conf "$dir" "$fsid" "$p2" "$p1"
		monmaptool --create --clobber --fsid "$fsid" --addv a "[v2:127.0.0.1:$p2,v1:127.0.0.1:$p1]" "$dir/monmap" >"$dir/setup.log" 2>&1 ||
			{ cat "$dir/setup.log" >&2; die "monmaptool failed"; }
		ceph-mon -c "$dir/ceph.conf" --mkfs -i a --monmap "$dir/monmap" >>"$dir/setup.log" 2>&1 ||
			{ cat "$dir/setup.log" >&2; die "ceph-mon --mkfs failed"; }
		# Daemonizes once it has bound its ports; exits non-zero if it cannot.
		if ceph-mon -c "$dir/ceph.conf" -i a >>"$dir/setup.log" 2>&1; then
			ok=1
			break
		fi
		if ! grep -q -e "unable to bind" -e "Address already in use" "$dir/mon.a.log" "$dir/setup.log" 2>/dev/null; then
			tail -n 30 "$dir/mon.a.log" "$dir/setup.log" >&2 || true
			die "ceph-mon failed to start (dir $dir)"
		fi
		echo "ceph-mon.sh: port clash on $p2/$p1, picking others" >&2
	done
	[ -n "$ok" ] || die "ceph-mon could not bind free ports after 5 attempts (dir $dir)"
	echo "$dir" >"$CURRENT"

	local deadline=$((SECONDS + 30))
	until ceph -c "$dir/ceph.conf" --connect-timeout 5 mon stat >/dev/null 2>&1; do
		if [ -z "$(mon_pid "$dir")" ] || [ "$SECONDS" -ge "$deadline" ]; then
			tail -n 30 "$dir/mon.a.log" >&2 || true
			cmd_stop >/dev/null 2>&1 || true
			die "ceph-mon did not answer 'ceph mon stat' within 30 s"
		fi
		sleep 0.2
	done
	print_info "$dir" "$(mon_pid "$dir")"
}

cmd_stop() {
	local dir pid
	dir=$(current_dir)
	if [ -z "$dir" ]; then
		echo "ceph-mon.sh: no mon started by this script" >&2
		return 0
	fi
	pid=$(mon_pid "$dir")
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		local i
		for i in $(seq 100); do # 10 s
			[ -n "$(mon_pid "$dir")" ] || break
			sleep 0.1
		done
		if [ -n "$(mon_pid "$dir")" ]; then
			echo "ceph-mon.sh: pid $pid ignored SIGTERM for 10 s; SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
		echo "ceph-mon.sh: stopped mon.a (pid $pid)"
	else
		echo "ceph-mon.sh: mon in $dir was not running"
	fi
	case "$dir" in
	"$STATE"/mon.*) rm -rf -- "$dir" ;;
	esac
	rm -f "$CURRENT"
}

cmd_status() {
	local dir pid
	dir=$(current_dir)
	[ -n "$dir" ] || { echo "not running"; return 1; }
	pid=$(mon_pid "$dir")
	[ -n "$pid" ] || { echo "not running (stale $dir)"; return 1; }
	print_info "$dir" "$pid"
}

cmd_env() {
	local dir pid
	dir=$(current_dir)
	[ -n "$dir" ] && pid=$(mon_pid "$dir") && [ -n "$pid" ] || die "not running; run: $0 start"
	local host
	host=$(sed -n 's/^mon host = //p' "$dir/ceph.conf")
	local v2=${host#\[v2:}; v2=${v2%%,*}
	echo "export CEPH_CONF=$dir/ceph.conf"
	echo "export GOMSGR_MON_V2=$v2"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
env) cmd_env ;;
*)
	echo "usage: $0 start|stop|status|env" >&2
	exit 2
	;;
esac

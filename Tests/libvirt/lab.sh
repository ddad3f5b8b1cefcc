#!/bin/bash
# lab.sh - run a real, isolated libvirtd inside a private network + mount namespace.
#
#   LAB=pfwlab ./lab.sh up        # netns, private mounts, virtlogd+libvirtd, net "default", guest netns
#   ./lab.sh down                 # destroy everything, host left untouched
#   ./lab.sh virsh list --all     # virsh -c qemu:///system inside the lab
#   ./lab.sh exec CMD...          # run CMD inside lab (net ns + mount ns [+ root]), e.g. iptables-save
#   ./lab.sh run CMD...           # the same, but CMD replaces lab.sh: start it in the background, end it by PID
#   ./lab.sh restart-libvirtd     # kill libvirtd by PID and start it again (reconnect test)
#   ./lab.sh reattach             # re-enslave guest veth to virbr0 (needed after net-destroy/net-start)
#   ./lab.sh isolated             # an isolated network (virbr9, 192.168.100.0/24) and a namespace ${LAB}-iso on it
#   ./lab.sh dhcp [ADDR|release]  # busybox udhcpc in the guest ns: lease (ADDR: ask for it), or release
#   ./lab.sh ping [IP]            # ICMP echo from guest ns (default 192.168.122.1), python raw socket
#   ./lab.sh announce ADDR MAC    # frames from the guest ns naming ADDR at MAC (frames.py)
#   ./lab.sh standin ADDR MAC     # another guest's stack: ADDR held at MAC in the guest ns, which
#                                 # answers the host for it there (a macvlan on its eth0), and used
#   ./lab.sh firewalld-reload [ARG]  # firewall-cmd --reload (or ARG, e.g. --complete-reload); FIREWALLD labs
#   ./lab.sh status | notes
#
# Used by the libvirt end-to-end tests (Tests/CLITests/LibvirtTests.swift). Besides libvirtd
# it builds a "client" namespace outside (198.51.100.2, talking to the lab's 198.51.100.1) and a
# "guest" namespace on virbr0 that carries the traffic a diskless domain cannot.
#
# Which libvirt: the host's own (Debian 12: libvirt 9.0), or with ROOT=DIR the one in a Debian
# root built by scripts/test-root (trixie: libvirt 11.3). In a ROOT lab every daemon, the hooks
# and `exec`/`virsh` run inside an overlay over DIR; the guest and client namespaces use host tools.
#
# Env: LAB (default pfwlab), LAB_BASE (/tmp/libvirt-portfwd-lab), GUEST (${LAB}-guest), GUEST_IP,
#      GUEST_MAC, GUEST_EXTRA_IPS (more addresses on the guest namespace), CLIENT (${LAB}-client),
#      NO_GUEST=1 (skip guest ns), LAB_HOOKS_QEMU / LAB_HOOKS_NETWORK: extra executables to install
#      into hooks/qemu.d resp. hooks/network.d before libvirtd starts, LAB_PORTFWD="BIN ARGS":
#      run `BIN install-hook --hooks-dir <lab hooks> ARGS` before libvirtd starts.
#    ROOT=DIR            run libvirt (and firewalld) from this root (scripts/test-root SUITE prints it)
#    FW_BACKEND=nftables|iptables   libvirt's firewall_backend (libvirt >= 10.4, so ROOT labs only)
#    FIREWALLD=1         a private system bus and firewalld, started before libvirtd
#    FIREWALLD_STRICT=1  StrictForwardPorts=yes in firewalld.conf (firewalld >= 2.3)
#    LAB_BINDS="DIR.."   ROOT labs: more host directories to show inside the root (same path, rw)
# `up` records ROOT, FW_BACKEND, FIREWALLD*, LAB_BINDS and LAB_PORTFWD; later commands use those.
set -Eeuo pipefail

LAB=${LAB:-pfwlab}
BASE=${LAB_BASE:-/tmp/libvirt-portfwd-lab}
W=$BASE/$LAB                 # per-lab work dir, removed by `down`
SETTINGS=$W/settings         # what `up` was given (ROOT, FIREWALLD, ...), for the later commands
ROOT=${ROOT:-}
ROOT=${ROOT%/}
FW_BACKEND=${FW_BACKEND:-}
FIREWALLD=${FIREWALLD:-}
FIREWALLD_STRICT=${FIREWALLD_STRICT:-}
LAB_BINDS=${LAB_BINDS:-}
LAB_PORTFWD=${LAB_PORTFWD:-}
if [ "${1:-}" != up ] && [ -s "$SETTINGS" ]; then . "$SETTINGS"; fi

S=$W/state                   # bind-mounted over the global libvirt paths inside the lab
NSDIR=$W/ns
MNTNS=$NSDIR/mnt             # persistent mount-namespace handle (nsfs bind mount)
NETNS=/run/netns/$LAB
RT=$W/root                   # ROOT labs: overlay over $ROOT, mounted only inside the lab's mount ns
ROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# qemu capabilities cache, kept across runs; one per libvirt, never shared between the host's
# and a root's. trixie's libvirt 11.3 probes once (~1.3 s), then answers 0.2 s after start.
# The host's libvirt 9.0 re-probes at every start here ("/dev/kvm has changed"), ~2.4 s.
if [ -n "$ROOT" ]; then CACHE=$BASE/cache-${ROOT##*/}; else CACHE=$BASE/cache; fi
GUEST=${GUEST:-${LAB}-guest}
GUEST_IP=${GUEST_IP:-192.168.122.10}
GUEST_MAC=${GUEST_MAC:-52:54:00:00:00:10}
GUEST_EXTRA_IPS=${GUEST_EXTRA_IPS:-}
CLIENT=${CLIENT:-${LAB}-client}
ISO=${LAB}-iso               # a namespace on an isolated network (`isolated`), made on demand
STP=${STP:-on}               # libvirt default; 'off' makes enslaved ports forward at once (on: ~4 s)
GUEST_VETH=veth-guest        # lab-side veth name (lives only inside $LAB)
HOOKLOG=$W/hooks.log
HOOKDATA=$W/hookdata
PY=/usr/bin/python3
SELF=$(readlink -f "$0")
REPO=$(cd "${SELF%/*}/../.." && pwd -P)   # the work tree; shown read-only inside a root

log() { printf '[lab %s] %s\n' "$(date +%T.%3N)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# The prefix that runs a command from the lab's root: chroot into the overlay (only the lab's
# mount ns has it mounted) with a PATH that exists there. Empty for the host's own libvirt.
IN_ROOT=${ROOT:+chroot $RT env PATH=$ROOT_PATH}

in_lab() { # CMD... inside the lab: its net ns, its mount ns and, for ROOT labs, its root
  # With IN_LAB_EXEC=exec the command replaces this script (`run`): its PID is ours.
  if [ -z "$ROOT" ]; then
    ${IN_LAB_EXEC:-} nsenter --mount="$MNTNS" --net="$NETNS" --wd="$PWD" -- "$@"   # --wd: keep relative paths working
  else # the cwd carries over only where the host's directory is shown inside the root
    local wd=/; ! visible_in_root "$PWD" || wd=$PWD
    ${IN_LAB_EXEC:-} nsenter --mount="$MNTNS" --net="$NETNS" -- $IN_ROOT sh -c 'cd "$0" && exec "$@"' "$wd" "$@"
  fi
}
lvirsh() { in_lab virsh -q -c qemu:///system "$@"; }
pid_alive() { # running and not a zombie (PID 1 here reaps orphans only every ~2 s)
  local st; [ -n "${1:-}" ] && st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  st=${st##*) }; [ "${st%% *}" != Z ]
}
readpid() { [ -s "$1" ] && tr -dc 0-9 <"$1" || true; }

killpid() { # killpid PID [timeout_s] [expected comm] : TERM, wait, KILL
  local p=$1 t=${2:-10} c=${3:-} i
  pid_alive "$p" || return 0
  [ -z "$c" ] || [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$c" ] || { log "pid $p is not $c, not killing"; return 0; }
  kill -TERM "$p" 2>/dev/null || true
  for ((i = 0; i < t * 10; i++)); do pid_alive "$p" || return 0; sleep 0.1; done
  log "pid $p ($c) ignored SIGTERM for ${t} s, sending SIGKILL"
  kill -KILL "$p" 2>/dev/null || true; sleep 0.2
}

save_settings() { declare -p ROOT FW_BACKEND FIREWALLD FIREWALLD_STRICT LAB_BINDS LAB_PORTFWD >"$SETTINGS"; }

write_hook() { # generic logging hook: argv + first stdin line -> $HOOKLOG, full stdin -> $HOOKDATA/
  cat >"$1" <<EOF
#!/bin/sh
kind=\$(basename "\$(dirname "\$0")"); kind=\${kind%.d}
f=$HOOKDATA/\$(date +%s%N)-\$kind-\$1-\$2-\$3.xml
cat >"\$f"
printf '%s %-7s %s | %s\n' "\$(date +%T.%3N)" "\$kind" "\$*" \\
  "\$(head -n1 "\$f" | cut -c1-90)" >>$HOOKLOG
exit 0
EOF
  chmod 755 "$1"
}

# ---- a Debian root (ROOT=DIR) ------------------------------------------------------------------

root_binds() { # host dirs shown inside the root at the same path, one "ro|rw DIR" a line
  [ ! -d /opt/swift ] || echo "ro /opt/swift"   # the Swift runtime a debug build links against (RUNPATH)
  echo "ro $REPO"                                # the work tree: .build/*/libvirt-portfwd, fixtures
  echo "rw $BASE"                                # lab dirs: pid files, hook logs, tests' config and state
  local bin=${LAB_PORTFWD%% *} d
  if [ -n "$bin" ] && d=$(cd "${bin%/*}" 2>/dev/null && pwd -P); then
    echo "ro $d"                                 # the hook's binary, wherever it is
  fi
  for d in $LAB_BINDS; do echo "rw $d"; done
}

visible_in_root() { # PATH: is it inside one of root_binds' dirs?
  # Read whole first: returning from a loop over `< <(root_binds)` leaves root_binds writing
  # into a closed pipe. The test runner ignores SIGPIPE (so do its children), so that write
  # fails with EPIPE instead, and under set -E the failing subshell ran up's ERR trap: a lab
  # torn down under its own `up`, whenever the machine was busy enough to lose the race.
  local binds mode dir
  binds=$(root_binds)
  while read -r mode dir; do case $1/ in "$dir"/*) return 0 ;; esac; done <<<"$binds"
  return 1
}

kernel_has_act_csum() { # tc's csum action (libvirt 11 runs it on net-start); unknown counts as yes
  [ -r /proc/config.gz ] || return 0
  zgrep -qE '^CONFIG_NET_ACT_CSUM=(y|m)' /proc/config.gz
}

# libvirt 11's nftables backend fixes DHCP reply checksums on net-start with
#   tc filter add dev virbr0 prio 2 protocol ip parent 1: u32 match ip dport 68 ffff action csum ip and udp
# (its iptables backend uses the CHECKSUM target instead). Without act_csum that call fails and
# so does net-start. This tc, placed in the overlay, skips exactly the calls with a csum action
# and runs the real tc for everything else. It logs every call to $W/tc.log.
install_tc_shim() {
  local up=$W/overlay/upper/usr/sbin
  mkdir -p "$up"
  cp -a "$ROOT/usr/sbin/tc" "$up/tc.lab-real"
  cat >"$up/tc" <<EOF
#!/bin/sh
# lab.sh: this kernel has no act_csum (CONFIG_NET_ACT_CSUM); skip tc calls that use it.
case " \$* " in
  *" action csum "*) echo "\$(date +%T.%3N) skipped: tc \$*" >>$W/tc.log; exit 0 ;;
esac
echo "\$(date +%T.%3N) ran: tc \$*" >>$W/tc.log
exec /usr/sbin/tc.lab-real "\$@"
EOF
  chmod 755 "$up/tc"
}

prepare_root() { # the overlay's dirs; its upper dir starts with the tc shim when needed
  mkdir -p "$W/overlay/upper" "$W/overlay/work" "$RT"
  kernel_has_act_csum || install_tc_shim
}

# ---- state and mounts --------------------------------------------------------------------------

check_settings() { # before `up` creates anything: is what was asked for there?
  if [ -n "$ROOT" ]; then
    [[ $ROOT = /* ]] && [ -x "$ROOT/usr/sbin/libvirtd" ] || die "ROOT=$ROOT is no root with libvirtd (scripts/test-root trixie builds one)"
  else
    command -v libvirtd >/dev/null || die "libvirtd is not installed (make test installs it)"
  fi
  case $FW_BACKEND in "" | nftables | iptables) ;; *) die "FW_BACKEND must be nftables or iptables" ;; esac
  [ -z "$FW_BACKEND" ] || grep -q firewall_backend "$ROOT/etc/libvirt/network.conf" 2>/dev/null ||
    die "this libvirt has no firewall_backend setting (libvirt >= 10.4; the host's 9.0 always uses iptables)"
  [ -z "$FIREWALLD" ] || [ -x "$ROOT/usr/sbin/firewalld" ] || die "firewalld is not installed${ROOT:+ in $ROOT} (make test-deps)"
  [ -z "$FIREWALLD_STRICT" ] || [ -n "$FIREWALLD" ] || die "FIREWALLD_STRICT needs FIREWALLD=1"
  [ -z "$FIREWALLD_STRICT" ] || grep -q '^StrictForwardPorts=' "$ROOT/etc/firewalld/firewalld.conf" ||
    die "this firewalld ($(dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f='${Version}' firewalld)) has no StrictForwardPorts (firewalld >= 2.3)"
  [ -n "$ROOT" ] || return 0
  # The hook's config and state must be the same files inside the root as outside.
  set -- $LAB_PORTFWD
  while [ $# -gt 0 ]; do
    case $1 in --config | --state-dir)
      visible_in_root "$2" || die "$1 $2 is not visible inside the root: put it under $BASE or add its directory to LAB_BINDS" ;;
    esac
    shift
  done
}

set_firewall_backend() { # FW_BACKEND -> firewall_backend in the lab's network.conf
  [ -n "$FW_BACKEND" ] || return 0
  printf '\n# --- lab override ---\nfirewall_backend = "%s"\n' "$FW_BACKEND" >>"$S/etc/network.conf"
}

prepare_firewalld() { # a private copy of /etc/firewalld, bound over the real one in the lab
  cp -a "$ROOT/etc/firewalld" "$W/firewalld-etc"
  if [ -n "$FIREWALLD_STRICT" ]; then
    sed -i 's/^StrictForwardPorts=.*/StrictForwardPorts=yes/' "$W/firewalld-etc/firewalld.conf"
  fi
  # The lab's system bus: root only, and no service activation. With the stock system.conf the
  # bus would start polkitd on firewalld's first authorization check; without polkit,
  # firewalld falls back to allowing uid 0.
  cat >"$W/dbus-system.conf" <<'EOF'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="root"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
EOF
}

prepare_state() {
  rm -rf "$S"; mkdir -p "$S"/{etc,run,lib,log} "$CACHE" "$HOOKDATA" "$NSDIR"; : >"$HOOKLOG"
  chmod 700 "$W"
  # start from the package skeletons (keeps ownership libvirt-qemu etc.), the host's or the root's
  cp -a "$ROOT/etc/libvirt/." "$S/etc/"; cp -a "$ROOT/var/lib/libvirt/." "$S/lib/"; cp -a "$ROOT/var/log/libvirt/." "$S/log/"
  [ -e "$CACHE/qemu" ] || cp -a "$ROOT/var/cache/libvirt/." "$CACHE/"
  rm -f "$S"/etc/qemu/*.xml "$S"/etc/qemu/networks/*.xml "$S"/etc/qemu/networks/autostart/*.xml
  cat >>"$S/etc/libvirtd.conf" <<'EOF'

# --- lab overrides ---
auth_unix_ro = "none"
auth_unix_rw = "none"
unix_sock_rw_perms = "0700"
unix_sock_ro_perms = "0700"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
EOF
  cat >>"$S/etc/virtlogd.conf" <<'EOF'

log_outputs = "3:file:/var/log/libvirt/virtlogd.log"
EOF
  cat >>"$S/etc/qemu.conf" <<'EOF'

# --- lab overrides ---
cgroup_controllers = [ ]
security_driver = "none"
namespaces = [ ]
EOF
  # qemu as root like the rest of the lab (the default, libvirt-qemu, also ran a diskless guest)
  [ -z "$ROOT" ] || printf 'user = "root"\ngroup = "root"\n' >>"$S/etc/qemu.conf"
  set_firewall_backend
  # hooks: must exist before libvirtd starts; none of the host's own hooks come along
  rm -rf "$S/etc/hooks"
  mkdir -p "$S"/etc/hooks/{qemu.d,network.d,daemon.d}
  for k in qemu network daemon; do write_hook "$S/etc/hooks/$k.d/00-lablog"; done
  local f
  for f in ${LAB_HOOKS_QEMU:-}; do install -m 755 "$f" "$S/etc/hooks/qemu.d/"; done
  for f in ${LAB_HOOKS_NETWORK:-}; do install -m 755 "$f" "$S/etc/hooks/network.d/"; done
  if [ -n "$LAB_PORTFWD" ]; then
    set -- $LAB_PORTFWD
    local bin=$1; shift
    "$bin" install-hook --hooks-dir "$S/etc/hooks" "$@" >/dev/null
  fi
  [ -z "$FIREWALLD" ] || prepare_firewalld
  [ -z "$ROOT" ] || prepare_root
}

setup_mntns() {
  mount -n --bind "$NSDIR" "$NSDIR"; mount -n --make-private "$NSDIR"; : >"$MNTNS"
  # New mount ns (slave: host mounts propagate in, nothing propagates out), pinned at $MNTNS.
  # Entered with the lab net ns so the fresh sysfs shows the lab's interfaces. The mounts
  # themselves are made by this script's `_mounts`, running inside.
  nsenter --net="$NETNS" unshare --mount="$MNTNS" --propagation slave env LAB="$LAB" LAB_BASE="$BASE" "$SELF" _mounts
}

mount_libvirt_dirs() { # PREFIX: the lab's private copies over libvirt's (and firewalld's) paths
  local r=$1
  mkdir -p "$r/run/libvirt" "$r/run/lock" "$r/run/dbus"
  mount -n --bind "$S/run" "$r/run/libvirt"
  mount -n --bind "$S/etc" "$r/etc/libvirt"
  mount -n --bind "$S/lib" "$r/var/lib/libvirt"
  mount -n --bind "$S/log" "$r/var/log/libvirt"
  mount -n --bind "$CACHE" "$r/var/cache/libvirt"
  [ -z "$FIREWALLD" ] || mount -n --bind "$W/firewalld-etc" "$r/etc/firewalld"
}

mount_root() { # the root the daemons chroot into: a fresh overlay, like a booted system's mounts
  mount -n -t overlay -o "lowerdir=$ROOT,upperdir=$W/overlay/upper,workdir=$W/overlay/work" lab-root "$RT"
  mount -n -t proc -o nosuid,nodev,noexec proc "$RT/proc"
  mount -n -t sysfs -o nosuid,nodev,noexec sysfs "$RT/sys"     # the lab net ns's interfaces
  mount -n --rbind /dev "$RT/dev"                               # /dev/net/tun, /dev/null, ...
  mount -n -t tmpfs -o mode=755,nosuid,nodev lab-run "$RT/run"
  mount_libvirt_dirs "$RT"
  local mode dir
  while read -r mode dir; do
    mkdir -p "$RT$dir"
    # not --rbind: $BASE holds every lab's mount-ns handle, and those must not nest
    if [ "$mode" = ro ]; then mount -n --bind -o ro "$dir" "$RT$dir"; else mount -n --bind "$dir" "$RT$dir"; fi
  done < <(root_binds)
  # libvirtd sometimes ignored SIGTERM for over 15 s with the node-device driver loaded; the lab
  # needs none of it. Deleting it here only whites it out in this lab's overlay.
  rm -f "$RT"/usr/lib/*/libvirt/connection-driver/libvirt_driver_nodedev.so
}

cmd_mounts() { # internal: runs inside the new mount ns, see setup_mntns
  umount -n -l /sys; mount -n -t sysfs -o nosuid,nodev,noexec sysfs /sys   # like ip netns exec; drops cgroup mounts
  mkdir -p "$NSDIR/keep"; mount -n --rbind /run/netns "$NSDIR/keep"
  mount -n -t tmpfs -o mode=755,nosuid,nodev lab-run /run               # private /run (not the host's dbus/systemd/pidfiles)
  mkdir -p /run/netns; mount -n --move "$NSDIR/keep" /run/netns
  if [ -z "$ROOT" ]; then mount_libvirt_dirs ""; else mount_root; fi
}

# ---- daemons -----------------------------------------------------------------------------------

# PID 1 on this box reaps orphans only every ~2 s; libvirt waits for qemu to vanish (kill(pid,0)),
# so `virsh destroy` took ~1.7 s. A child-subreaper started inside the lab adopts the
# daemonised virtlogd/libvirtd/dnsmasq/qemu and reaps at once. It spawns command lines
# written to $W/reaper.fifo (so restarted daemons are adopted too). It runs the host's python
# outside any root; ROOT labs' command lines chroot themselves ($IN_ROOT).
start_reaper() {
  mkfifo -m 600 "$W/reaper.fifo"
  cat >"$W/reaper.py" <<'EOF'
import ctypes, os, select, signal, subprocess, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)          # PR_SET_CHILD_SUBREAPER
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
open(sys.argv[2], 'w').write('%d\n' % os.getpid())
fd, buf = os.open(sys.argv[1], os.O_RDWR), b''   # O_RDWR: never sees EOF
while True:
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0: break
        except ChildProcessError: break
    if select.select([fd], [], [], 0.02)[0]:
        buf += os.read(fd, 4096)
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            subprocess.Popen(line.decode(), shell=True, stdin=subprocess.DEVNULL)
EOF
  nsenter --mount="$MNTNS" --net="$NETNS" -- setsid -f "$PY" "$W/reaper.py" "$W/reaper.fifo" "$W/reaper.pid" </dev/null >>"$W/daemons.out" 2>&1
  local i; for ((i = 0; i < 100; i++)); do [ -s "$W/reaper.pid" ] && return 0; sleep 0.02; done
  die "reaper did not start"
}
reaper_run() { echo "$*" >"$W/reaper.fifo"; }

# firewalld needs a system bus and must be up before libvirtd, which looks for it on that bus
# when it starts a network (and then puts virbr0 into firewalld's "libvirt" zone). The bus and
# firewalld live in the lab's private /run, /etc/firewalld is the lab's copy.
start_firewalld() {
  local t0 i; t0=$(date +%s%N)
  # --fork returns once the bus listens; --print-pid=3 gives the daemon's pid to the host side
  reaper_run "$IN_ROOT dbus-daemon --config-file=$W/dbus-system.conf --fork --print-pid=3 3>$W/dbus.pid"
  for ((i = 0; i < 100; i++)); do [ -s "$W/dbus.pid" ] && break; sleep 0.05; done
  [ -s "$W/dbus.pid" ] || die "dbus-daemon did not start, see $W/daemons.out"
  # exec keeps the pid: sh -> chroot -> env -> firewalld (python)
  reaper_run "echo \$\$ >$W/firewalld.pid; exec $IN_ROOT firewalld --nofork --nopid --log-target file --log-file $W/firewalld.log"
  for ((i = 0; i < 300; i++)); do
    [ "$(in_lab firewall-cmd --state 2>/dev/null)" = running ] && break; sleep 0.1
  done
  [ "$(in_lab firewall-cmd --state 2>/dev/null)" = running ] || die "firewalld not running, see $W/firewalld.log $W/daemons.out"
  log "firewalld $(in_lab firewall-cmd --version) pid $(readpid "$W/firewalld.pid") running after $(ms_since "$t0") ms (dbus pid $(readpid "$W/dbus.pid"))"
}

start_daemons() {
  local t0 i
  pid_alive "$(readpid "$W/reaper.pid")" || start_reaper
  [ -z "$FIREWALLD" ] || pid_alive "$(readpid "$W/firewalld.pid")" || start_firewalld
  if ! pid_alive "$(readpid "$W/virtlogd.pid")"; then
    reaper_run "$IN_ROOT virtlogd -d -p $W/virtlogd.pid"
    for ((i = 0; i < 100; i++)); do [ -S "$S/run/virtlogd-sock" ] && break; sleep 0.05; done
  fi
  t0=$(date +%s%N)
  reaper_run "$IN_ROOT libvirtd -d -p $W/libvirtd.pid"
  for ((i = 0; i < 300; i++)); do
    lvirsh version >/dev/null 2>&1 && break; sleep 0.1
  done
  lvirsh version >/dev/null 2>&1 || die "libvirtd not answering, see $S/log/libvirtd.log $W/daemons.out"
  log "libvirtd pid $(readpid "$W/libvirtd.pid") answering after $(ms_since "$t0") ms (virtlogd pid $(readpid "$W/virtlogd.pid"))"
}

stop_libvirtd() { killpid "$(readpid "$W/libvirtd.pid")" 15 libvirtd; rm -f "$W/libvirtd.pid"; }

# ---- network, guest, client --------------------------------------------------------------------

define_network() {
  lvirsh net-info default >/dev/null 2>&1 || {
    cat >"$W/net-default.xml" <<EOF
<network>
  <name>default</name>
  <forward mode='nat'/>
  <bridge name='virbr0' stp='$STP' delay='0'/>
  <ip address='192.168.122.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.122.2' end='192.168.122.254'/>
      <host mac='52:54:00:00:00:10' ip='192.168.122.10'/>
    </dhcp>
  </ip>
  <ip family='ipv6' address='fd00:122::1' prefix='64'/>
</network>
EOF
    lvirsh net-define "$W/net-default.xml" >/dev/null
  }
  lvirsh net-start default >/dev/null
}

reattach() { # (re-)enslave the guest veth to virbr0 and flush stale neighbours
  ip -n "$LAB" link set "$GUEST_VETH" nomaster 2>/dev/null || true
  ip -n "$LAB" link set "$GUEST_VETH" master virbr0 up
  ip -n "$LAB" neigh flush all
  local i t0; t0=$(date +%s%N)
  for ((i = 0; i < 100; i++)); do
    [[ $(bridge -n "$LAB" link show dev "$GUEST_VETH") == *'state forwarding'* ]] && break; sleep 0.05
  done
  log "$GUEST_VETH in virbr0: $(bridge -n "$LAB" link show dev "$GUEST_VETH" | grep -o 'state [a-z]*') after $(ms_since "$t0") ms"
  guest_talks
}

# The guest says a word to the host from each of its addresses, as a booted guest does (it asks
# for its gateway): the host's neighbour tables then have them at its MAC, which is what a
# guest's own claim to an address needs before it counts.
guest_talks() {
  [ -e "/run/netns/$GUEST" ] || return 0
  local a; for a in "$GUEST_IP" $GUEST_EXTRA_IPS "fd00:122::${GUEST_IP##*.}"; do announce "$a" "$GUEST_MAC"; done
}

# A second guest behind virbr0 without a second namespace: a macvlan on the guest's eth0 at MAC,
# holding ADDR alone (a /32 or /128 adds no route beside eth0's), answers the host's ARP or NDP
# question for ADDR at MAC, as a guest that holds it does; then it talks.
standin() { # ADDR MAC
  local dev="s${2//:/}"; dev=${dev:0:15}
  ip -n "$GUEST" link show "$dev" >/dev/null 2>&1 || {
    ip -n "$GUEST" link add "$dev" link eth0 type macvlan mode private
    ip -n "$GUEST" link set "$dev" address "$2"
    ip -n "$GUEST" link set "$dev" up
  }
  if [[ $1 == *:* ]]; then ip -n "$GUEST" addr add "$1/128" dev "$dev" nodad; else ip -n "$GUEST" addr add "$1/32" dev "$dev"; fi
  announce "$1" "$2"
}

announce() { # ADDR MAC: frames from the guest ns naming ADDR at MAC (ARP, or NDP for IPv6)
  ip netns exec "$GUEST" "$PY" "${SELF%/*}/frames.py" eth0 announce "$1" "$2"
}

guest_up() {
  ip netns add "$GUEST"
  ip -n "$GUEST" link set lo up
  ip -n "$LAB" link add "$GUEST_VETH" type veth peer name eth0 netns "$GUEST"
  ip -n "$GUEST" link set eth0 address "$GUEST_MAC"
  ip -n "$GUEST" addr add "$GUEST_IP/24" dev eth0
  ip -n "$GUEST" addr add "fd00:122::${GUEST_IP##*.}/64" dev eth0 nodad
  local extra; for extra in $GUEST_EXTRA_IPS; do ip -n "$GUEST" addr add "$extra/24" dev eth0; done
  ip -n "$GUEST" link set eth0 up
  ip -n "$GUEST" route add default via 192.168.122.1
  ip -n "$GUEST" -6 route add default via fd00:122::1
  reattach
}

# An isolated libvirt network (no <forward>: libvirt lets its guests reach nothing beyond the
# bridge), virbr9 on 192.168.100.0/24, and a namespace ${LAB}-iso plugged into it at .10.
isolated_up() {
  cat >"$W/net-isolated.xml" <<EOF
<network>
  <name>isolated</name>
  <bridge name='virbr9' stp='off' delay='0'/>
  <ip address='192.168.100.1' prefix='24'/>
</network>
EOF
  lvirsh net-define "$W/net-isolated.xml" >/dev/null
  lvirsh net-start isolated >/dev/null
  ip netns add "$ISO"
  ip -n "$ISO" link set lo up
  ip -n "$LAB" link add veth-iso type veth peer name eth0 netns "$ISO"
  ip -n "$ISO" addr add 192.168.100.10/24 dev eth0
  ip -n "$ISO" link set eth0 up
  ip -n "$ISO" route add default via 192.168.100.1
  ip -n "$LAB" link set veth-iso master virbr9 up
  local i
  for ((i = 0; i < 100; i++)); do
    [[ $(bridge -n "$LAB" link show dev veth-iso) == *'state forwarding'* ]] && break; sleep 0.05
  done
  log "isolated network up: virbr9, $ISO at 192.168.100.10"
}

client_up() { # the outside world: 198.51.100.2, 203.0.113.2 and 2001:db8::2, facing the lab host's ::1/.1 on each
  ip netns add "$CLIENT"
  ip -n "$CLIENT" link set lo up
  ip -n "$LAB" link add outside type veth peer name eth0 netns "$CLIENT"
  ip -n "$LAB" addr add 198.51.100.1/24 dev outside
  ip -n "$LAB" addr add 203.0.113.1/24 dev outside
  ip -n "$LAB" addr add 2001:db8::1/64 dev outside nodad
  ip -n "$LAB" link set outside up
  ip -n "$CLIENT" addr add 198.51.100.2/24 dev eth0
  ip -n "$CLIENT" addr add 203.0.113.2/24 dev eth0
  ip -n "$CLIENT" addr add 2001:db8::2/64 dev eth0 nodad
  ip -n "$CLIENT" link set eth0 up
}

# ---- commands ----------------------------------------------------------------------------------

cmd_up() {
  [ "$(id -u)" = 0 ] || die "must be root"
  [ -e "$NETNS" ] && die "netns $LAB exists; run down first"
  check_settings
  local t0; t0=$(date +%s%N)
  # from here on any failure, a die's exit included, takes down what was made so far
  # (set -E hands the ERR trap to subshells too; only this shell may take the lab down.)
  trap '[ "$BASHPID" = "$$" ] || exit 1; trap - ERR EXIT; log "up failed, cleaning up"; failure_logs; cmd_down; exit 1' ERR EXIT
  mkdir -p "$W"; save_settings
  ip netns add "$LAB"; ip -n "$LAB" link set lo up
  # Like a libvirt host without br_netfilter (Debian's default; Docker loads it): bridged
  # frames skip netfilter. With it, a guest's connection to its own forward through the host's
  # address is DNATed in the bridge and cannot go back out the port it came in on.
  if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
    ip netns exec "$LAB" sysctl -qw net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0
  fi
  prepare_state
  setup_mntns
  start_daemons
  define_network
  [ -n "${NO_GUEST:-}" ] || guest_up
  client_up
  trap - ERR EXIT
  log "up done in $(ms_since "$t0") ms${ROOT:+ (root $ROOT, libvirt $(lvirsh version | sed -n 's/.*libvirt \([0-9.]*\)$/\1/p' | head -n1))}"
}

failure_logs() { # the daemons' last words, into the test's failure message before down removes them
  local f
  for f in "$S/log/libvirtd.log" "$W/daemons.out" "$W/firewalld.log"; do
    [ -s "$f" ] || continue
    log "last lines of $f:"; tail -n 12 "$f" | sed 's/^/    /' >&2
  done
}

cmd_down() {
  set +e
  local d p f
  if [ -e "$MNTNS" ] && [ -e "$NETNS" ] && pid_alive "$(readpid "$W/libvirtd.pid")"; then
    for d in $(lvirsh list --name 2>/dev/null); do lvirsh destroy "$d" >/dev/null 2>&1; done
  fi
  log "domains destroyed"; stop_libvirtd; log "libvirtd stopped"
  for f in "$S"/run/qemu/*.pid; do [ -e "$f" ] && killpid "$(readpid "$f")" 5 qemu-system-x86; done
  for f in "$S"/run/network/*.pid; do [ -e "$f" ] && killpid "$(readpid "$f")" 5 dnsmasq; done
  killpid "$(readpid "$W/virtlogd.pid")" 5 virtlogd
  dhcp_client_stop
  killpid "$(readpid "$W/firewalld.pid")" 10 firewalld
  killpid "$(readpid "$W/dbus.pid")" 5 dbus-daemon
  killpid "$(readpid "$W/reaper.pid")" 5 python3
  # safety net: anything still living in our net namespaces (kill by PID)
  for d in "$LAB" "$GUEST" "$CLIENT" "$ISO"; do
    [ -e "/run/netns/$d" ] || continue
    for p in $(ip netns pids "$d" 2>/dev/null); do log "killing leftover pid $p ($(cat /proc/$p/comm 2>/dev/null))"; killpid "$p" 3; done
  done
  mountpoint -q "$MNTNS" 2>/dev/null && umount -n "$MNTNS"   # drops the mount ns and all lab mounts in it
  mountpoint -q "$NSDIR" 2>/dev/null && umount -n "$NSDIR"
  [ -e "/run/netns/$GUEST" ] && ip netns del "$GUEST"
  [ -e "/run/netns/$CLIENT" ] && ip netns del "$CLIENT"
  [ -e "/run/netns/$ISO" ] && ip netns del "$ISO"
  [ -e "$NETNS" ] && ip netns del "$LAB"
  rm -rf "$W"
  log "down done"
  return 0
}

# The DHCP client is busybox's udhcpc, run from the host in the guest ns with the guest's MAC,
# and left running like a guest's client (pid in $W/udhcpc.pid). udhcpc itself configures
# nothing: it calls this script with the lease in its environment. The script adds the leased
# address to eth0 and removes it again on deconfig (client start, release); the guest's static
# addresses (GUEST_IP, GUEST_EXTRA_IPS) are left alone.
write_udhcpc_script() {
  cat >"$W/udhcpc.script" <<EOF
#!/bin/sh
# lab.sh: udhcpc runs this with \$1 = deconfig|bound|renew|nak|leasefail and \$ip, \$mask, \$lease ...
state=$W/dhcp.lease   # "ADDR/LEN owned" (we added it) or "ADDR/LEN static" (it was already there)
case \$1 in
  deconfig)
    if [ -f "\$state" ]; then
      read -r addr how <"\$state"
      [ "\$how" != owned ] || ip addr del "\$addr" dev "\$interface" 2>/dev/null
      rm -f "\$state"
    fi ;;
  bound|renew)
    new=\$ip/\${mask:-24}
    if [ -f "\$state" ]; then
      read -r addr how <"\$state"
      [ "\$addr" = "\$new" ] || [ "\$how" != owned ] || ip addr del "\$addr" dev "\$interface" 2>/dev/null
    fi
    if ip -o -4 addr show dev "\$interface" | grep -q " inet \$new "; then
      [ -f "\$state" ] || echo "\$new static" >"\$state"
    else
      ip addr add "\$new" dev "\$interface" && echo "\$new owned" >"\$state"
    fi
    echo "\$ip \$lease" >$W/dhcp.bound ;;
esac
exit 0
EOF
  chmod 755 "$W/udhcpc.script"
}

dhcp_client_stop() { # SIGTERM without -R: no release; dnsmasq keeps the lease (a guest powered off)
  killpid "$(readpid "$W/udhcpc.pid")" 3 busybox; rm -f "$W/udhcpc.pid"
}

dhcp_lease() { # [ADDR]: a fresh client (as after a guest reboot) gets a lease, asking for ADDR
  local i pid ip lease
  write_udhcpc_script
  dhcp_client_stop
  rm -f "$W/dhcp.bound"
  # -f: stay in the foreground of setsid; -n: give up when 5 discovers, 1 s apart, get no lease
  ip netns exec "$GUEST" setsid -f busybox udhcpc -f -n -t 5 -T 1 -i eth0 -x hostname:guest \
    -s "$W/udhcpc.script" -p "$W/udhcpc.pid" ${1:+-r "$1"} </dev/null >>"$W/udhcpc.log" 2>&1
  for ((i = 0; i < 200; i++)); do
    [ -s "$W/dhcp.bound" ] && break
    pid=$(readpid "$W/udhcpc.pid")
    [ $i -lt 20 ] || pid_alive "$pid" || break
    sleep 0.05
  done
  [ -s "$W/dhcp.bound" ] || die "no DHCP lease, see $W/udhcpc.log"
  read -r ip lease <"$W/dhcp.bound"
  # A client with a new lease talks to its network (DNS, its gateway) at once.
  announce "$ip" "$GUEST_MAC"
  echo "DHCPACK $ip lease $lease s"
}

dhcp_release() { # SIGUSR2: udhcpc sends DHCPRELEASE (dnsmasq drops the lease), runs deconfig
  local i pid; pid=$(readpid "$W/udhcpc.pid")
  pid_alive "$pid" || die "no DHCP client running ($0 dhcp first)"
  kill -USR2 "$pid"
  for ((i = 0; i < 60; i++)); do [ -e "$W/dhcp.lease" ] || break; sleep 0.05; done
  dhcp_client_stop
  echo "DHCPRELEASE"
}

cmd_dhcp() { # dhcp [ADDR|release]
  case ${1:-} in
    release) dhcp_release ;;
    *) dhcp_lease "${1:-}" ;;
  esac
}

cmd_ping() { # ICMP echo from the guest ns (no ping binary on this host)
  ip netns exec "$GUEST" "$PY" - "${1:-192.168.122.1}" <<'EOF'
import socket, struct, sys, time, os
dst = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); s.settimeout(1)
def csum(b):
    b += b'\0' * (len(b) & 1); c = sum(struct.unpack('!%dH' % (len(b)//2), b)); c = (c >> 16) + (c & 0xffff); c += c >> 16
    return ~c & 0xffff
ident = os.getpid() & 0xffff
for seq in range(1, 4):
    h = struct.pack('!BBHHH', 8, 0, 0, ident, seq) + b'labping'
    h = h[:2] + struct.pack('!H', csum(h)) + h[4:]
    t = time.time(); s.sendto(h, (dst, 0))
    try:
        while True:
            b, a = s.recvfrom(1500); ihl = (b[0] & 15) * 4
            if b[ihl] == 0 and struct.unpack('!HH', b[ihl+4:ihl+8]) == (ident, seq):
                print('reply from %s seq=%d %.2f ms' % (a[0], seq, (time.time()-t)*1000)); break
    except socket.timeout:
        print('timeout seq=%d' % seq); sys.exit(1)
EOF
}

cmd_firewalld_reload() { # firewall-cmd --reload, or the given option (--complete-reload)
  [ -n "$FIREWALLD" ] || die "this lab has no firewalld (FIREWALLD=1 $0 up)"
  local t0; t0=$(date +%s%N)
  in_lab firewall-cmd "${1:---reload}" >/dev/null
  log "firewall-cmd ${1:---reload} took $(ms_since "$t0") ms"
}

cmd_status() {
  echo "lab=$LAB work=$W root=${ROOT:-host} fw_backend=${FW_BACKEND:-default} firewalld=${FIREWALLD:-no}${FIREWALLD_STRICT:+ (strict)}"
  echo "libvirtd pid=$(readpid "$W/libvirtd.pid") virtlogd pid=$(readpid "$W/virtlogd.pid") dnsmasq pid=$(readpid "$S/run/network/default.pid")${FIREWALLD:+ firewalld pid=$(readpid "$W/firewalld.pid") dbus pid=$(readpid "$W/dbus.pid")}"
  [ -e "$NETNS" ] && { lvirsh list --all; lvirsh net-list --all; bridge -n "$LAB" link; }
}

cmd_notes() { sed -n '/^: <<.NOTES./,/^NOTES$/p' "$0"; }

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  exec) shift; in_lab "$@" ;;
  run) shift; IN_LAB_EXEC=exec in_lab "$@" ;;
  virsh) shift; lvirsh "$@" ;;
  restart-libvirtd) stop_libvirtd; start_daemons ;;
  reattach) reattach ;;
  isolated) isolated_up ;;
  dhcp) shift; cmd_dhcp "$@" ;;
  ping) shift; cmd_ping "$@" ;;
  announce) shift; announce "$@" ;;
  standin) shift; standin "$@" ;;
  firewalld-reload) shift; cmd_firewalld_reload "$@" ;;
  status) cmd_status ;;
  notes) cmd_notes ;;
  _mounts) cmd_mounts ;;   # internal, see setup_mntns
  *) echo "usage: $0 up|down|exec CMD..|virsh ARGS..|restart-libvirtd|reattach|isolated|dhcp [ADDR|release]|ping [IP]|firewalld-reload [ARG]|status|notes" >&2; exit 2 ;;
esac
exit 0

: <<'NOTES'
Isolation: netns $LAB + a mount ns pinned at $W/ns/mnt (unshare --mount=FILE, propagation slave)
  with fresh sysfs (netns-correct /sys/class/net, no cgroup mounts), tmpfs /run (no dbus ->
  no firewalld/machined; /run/libvirtd.pid etc. stay private), and bind mounts
  $W/state/{run,etc,lib,log} -> /run/libvirt,/etc/libvirt,/var/lib/libvirt,/var/log/libvirt,
  $LAB_BASE/cache -> /var/cache/libvirt (qemu caps cache; first-ever start ~8 s, then ~0.3 s).
  Hooks live in $W/state/etc/hooks (private).  All mounts use -n (no /run/mount/utab on host).
ROOT labs: inside that mount ns, $W/root is an overlay (lower $ROOT, upper $W/overlay/upper) with
  its own proc, sysfs, /dev (bound), tmpfs /run and the same $W/state binds; the caps cache is
  $LAB_BASE/cache-<root name>. Daemons, hooks, `exec` and `virsh` run chrooted into it. Inside,
  at their host paths: /opt/swift and the work tree (read-only), $LAB_BASE, the LAB_PORTFWD
  binary's directory (read-only), LAB_BINDS. The node-device driver is whited out. Without
  act_csum in the kernel, $W/root/usr/sbin/tc skips `tc ... action csum` ($W/tc.log).
Host-side access without nsenter: virsh -c 'qemu:///system?socket=$W/state/run/libvirt-sock'
  Files: $W/state/lib/dnsmasq/virbr0.status (JSON leases), $W/state/run/network/default.xml
  (<networkstatus>), $W/state/run/network/default.pid (dnsmasq), $W/state/run/qemu/NAME.{pid,xml}
Firewall: libvirt 9.0 uses iptables (iptables-nft backend here): tables ip filter/nat/mangle,
  chains LIBVIRT_{INP,OUT,FWI,FWO,FWX,PRT}. Inspect: ./lab.sh exec iptables-save | nft list ruleset
  libvirt 11 (ROOT): FW_BACKEND=nftables -> table ip/ip6 libvirt_network; iptables -> LIBVIRT_*.
FIREWALLD=1: dbus-daemon (root-only bus, no service activation, so no polkitd: firewalld then
  allows uid 0) and firewalld --nofork, both under the reaper; /etc/firewalld is $W/firewalld-etc,
  log in $W/firewalld.log. libvirt puts virbr0 into firewalld's zone "libvirt".
STP: stp='on' delay='0' still needs ~4 s (kernel clamps forward_delay to 2 s: listening+learning).
  STP=off ./lab.sh up -> ports forward immediately.
net-destroy/net-start: virbr0 is recreated empty; guest veth AND running VMs' vnetN taps are
  not re-added. ./lab.sh reattach fixes the veth; a libvirtd restart re-plugs vnetN taps.
NOTES

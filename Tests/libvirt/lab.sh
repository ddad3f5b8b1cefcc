#!/bin/bash
# lab.sh - run a real, isolated libvirtd inside a private network + mount namespace.
#
#   LAB=pfwlab ./lab.sh up        # netns, private mounts, virtlogd+libvirtd, net "default", guest netns
#   ./lab.sh down                 # destroy everything, host left untouched
#   ./lab.sh virsh list --all     # virsh -c qemu:///system inside the lab
#   ./lab.sh exec CMD...          # run CMD inside lab (net ns + mount ns), e.g. iptables-save
#   ./lab.sh restart-libvirtd     # kill libvirtd by PID and start it again (reconnect test)
#   ./lab.sh reattach             # re-enslave guest veth to virbr0 (needed after net-destroy/net-start)
#   ./lab.sh dhcp                 # guest does a real DHCP DISCOVER/REQUEST (fills lease + status files)
#   ./lab.sh ping [IP]            # ICMP echo from guest ns (default 192.168.122.1), python raw socket
#   ./lab.sh status | notes
#
# Used by the libvirt end-to-end tests (Tests/PortFwdTests/LibvirtTests.swift). Besides libvirtd
# it builds a "client" namespace outside (198.51.100.2, talking to the lab's 198.51.100.1) and a
# "guest" namespace on virbr0 that carries the traffic a diskless domain cannot.
#
# Env: LAB (default pfwlab), LAB_BASE (/tmp/libvirt-portfwd-lab), GUEST (${LAB}-guest), GUEST_IP,
#      GUEST_MAC, GUEST_EXTRA_IPS (more addresses on the guest namespace), CLIENT (${LAB}-client),
#      NO_GUEST=1 (skip guest ns), LAB_HOOKS_QEMU / LAB_HOOKS_NETWORK: extra executables to install
#      into hooks/qemu.d resp. hooks/network.d before libvirtd starts, LAB_PORTFWD="BIN ARGS":
#      run `BIN install-hook --hooks-dir <lab hooks> ARGS` before libvirtd starts.
set -Eeuo pipefail

LAB=${LAB:-pfwlab}
BASE=${LAB_BASE:-/tmp/libvirt-portfwd-lab}
W=$BASE/$LAB                 # per-lab work dir, removed by `down`
S=$W/state                   # bind-mounted over the global libvirt paths inside the lab
NSDIR=$W/ns
MNTNS=$NSDIR/mnt             # persistent mount-namespace handle (nsfs bind mount)
NETNS=/run/netns/$LAB
CACHE=$BASE/cache            # qemu capabilities cache, kept across runs (first up probes qemu)
GUEST=${GUEST:-${LAB}-guest}
GUEST_IP=${GUEST_IP:-192.168.122.10}
GUEST_MAC=${GUEST_MAC:-52:54:00:00:00:10}
GUEST_EXTRA_IPS=${GUEST_EXTRA_IPS:-}
CLIENT=${CLIENT:-${LAB}-client}
STP=${STP:-on}               # libvirt default; 'off' makes enslaved ports forward at once (on: ~4 s)
GUEST_VETH=veth-guest        # lab-side veth name (lives only inside $LAB)
HOOKLOG=$W/hooks.log
HOOKDATA=$W/hookdata
PY=/usr/bin/python3

log() { printf '[lab %s] %s\n' "$(date +%T.%3N)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
in_lab() { nsenter --mount="$MNTNS" --net="$NETNS" --wd="$PWD" -- "$@"; }  # --wd: keep relative paths working
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
  kill -KILL "$p" 2>/dev/null || true; sleep 0.2
}

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

prepare_state() {
  rm -rf "$S"; mkdir -p "$S"/{etc,run,lib,log} "$CACHE" "$HOOKDATA" "$NSDIR"; : >"$HOOKLOG"
  chmod 700 "$W"
  # start from the package skeletons (keeps ownership libvirt-qemu etc.)
  cp -a /etc/libvirt/. "$S/etc/"; cp -a /var/lib/libvirt/. "$S/lib/"; cp -a /var/log/libvirt/. "$S/log/"
  [ -e "$CACHE/qemu" ] || cp -a /var/cache/libvirt/. "$CACHE/"
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
  # hooks: must exist before libvirtd starts; none of the host's own hooks come along
  rm -rf "$S/etc/hooks"
  mkdir -p "$S"/etc/hooks/{qemu.d,network.d,daemon.d}
  for k in qemu network daemon; do write_hook "$S/etc/hooks/$k.d/00-lablog"; done
  local f
  for f in ${LAB_HOOKS_QEMU:-}; do install -m 755 "$f" "$S/etc/hooks/qemu.d/"; done
  for f in ${LAB_HOOKS_NETWORK:-}; do install -m 755 "$f" "$S/etc/hooks/network.d/"; done
  if [ -n "${LAB_PORTFWD:-}" ]; then
    set -- $LAB_PORTFWD
    local bin=$1; shift
    "$bin" install-hook --hooks-dir "$S/etc/hooks" "$@" >/dev/null
  fi
}

setup_mntns() {
  mount -n --bind "$NSDIR" "$NSDIR"; mount -n --make-private "$NSDIR"; : >"$MNTNS"
  # New mount ns (slave: host mounts propagate in, nothing propagates out), pinned at $MNTNS.
  # Entered with the lab net ns so the fresh sysfs shows the lab's interfaces.
  nsenter --net="$NETNS" unshare --mount="$MNTNS" --propagation slave sh -ec "
    umount -n -l /sys; mount -n -t sysfs -o nosuid,nodev,noexec sysfs /sys   # like ip netns exec; drops cgroup mounts
    mkdir -p '$NSDIR/keep'; mount -n --rbind /run/netns '$NSDIR/keep'
    mount -n -t tmpfs -o mode=755,nosuid,nodev lab-run /run               # private /run (no dbus/systemd/pidfiles on host)
    mkdir -p /run/netns /run/libvirt /run/lock; mount -n --move '$NSDIR/keep' /run/netns
    mount -n --bind '$S/run' /run/libvirt
    mount -n --bind '$S/etc' /etc/libvirt
    mount -n --bind '$S/lib' /var/lib/libvirt
    mount -n --bind '$S/log' /var/log/libvirt
    mount -n --bind '$CACHE' /var/cache/libvirt"
}

# PID 1 on this box reaps orphans only every ~2 s; libvirt waits for qemu to vanish (kill(pid,0)),
# so `virsh destroy` took ~1.7 s. A child-subreaper started inside the lab adopts the
# daemonised virtlogd/libvirtd/dnsmasq/qemu and reaps at once. It spawns command lines
# written to $W/reaper.fifo (so restarted daemons are adopted too).
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
  in_lab setsid -f "$PY" "$W/reaper.py" "$W/reaper.fifo" "$W/reaper.pid" </dev/null >>"$W/daemons.out" 2>&1
  local i; for ((i = 0; i < 100; i++)); do [ -s "$W/reaper.pid" ] && return 0; sleep 0.02; done
  die "reaper did not start"
}
reaper_run() { echo "$*" >"$W/reaper.fifo"; }

start_daemons() {
  local t0 i
  pid_alive "$(readpid "$W/reaper.pid")" || start_reaper
  if ! pid_alive "$(readpid "$W/virtlogd.pid")"; then
    reaper_run virtlogd -d -p "$W/virtlogd.pid"
    for ((i = 0; i < 100; i++)); do [ -S "$S/run/virtlogd-sock" ] && break; sleep 0.05; done
  fi
  t0=$(date +%s%N)
  reaper_run libvirtd -d -p "$W/libvirtd.pid"
  for ((i = 0; i < 300; i++)); do
    lvirsh version >/dev/null 2>&1 && break; sleep 0.1
  done
  lvirsh version >/dev/null 2>&1 || die "libvirtd not answering, see $S/log/libvirtd.log $W/daemons.out"
  log "libvirtd pid $(readpid "$W/libvirtd.pid") answering after $((($(date +%s%N) - t0) / 1000000)) ms (virtlogd pid $(readpid "$W/virtlogd.pid"))"
}

stop_libvirtd() { killpid "$(readpid "$W/libvirtd.pid")" 15 libvirtd; rm -f "$W/libvirtd.pid"; }

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
    bridge -n "$LAB" link show dev "$GUEST_VETH" | grep -q 'state forwarding' && break; sleep 0.05
  done
  log "$GUEST_VETH in virbr0: $(bridge -n "$LAB" link show dev "$GUEST_VETH" | grep -o 'state [a-z]*') after $((($(date +%s%N) - t0) / 1000000)) ms"
}

guest_up() {
  ip netns add "$GUEST"
  ip -n "$GUEST" link set lo up
  ip -n "$LAB" link add "$GUEST_VETH" type veth peer name eth0 netns "$GUEST"
  ip -n "$GUEST" link set eth0 address "$GUEST_MAC"
  ip -n "$GUEST" addr add "$GUEST_IP/24" dev eth0
  local extra; for extra in $GUEST_EXTRA_IPS; do ip -n "$GUEST" addr add "$extra/24" dev eth0; done
  ip -n "$GUEST" link set eth0 up
  ip -n "$GUEST" route add default via 192.168.122.1
  reattach
}

client_up() { # the outside world: 198.51.100.2 and 203.0.113.2, facing the lab host's .1 on each
  ip netns add "$CLIENT"
  ip -n "$CLIENT" link set lo up
  ip -n "$LAB" link add outside type veth peer name eth0 netns "$CLIENT"
  ip -n "$LAB" addr add 198.51.100.1/24 dev outside
  ip -n "$LAB" addr add 203.0.113.1/24 dev outside
  ip -n "$LAB" link set outside up
  ip -n "$CLIENT" addr add 198.51.100.2/24 dev eth0
  ip -n "$CLIENT" addr add 203.0.113.2/24 dev eth0
  ip -n "$CLIENT" link set eth0 up
}

cmd_up() {
  [ "$(id -u)" = 0 ] || die "must be root"
  [ -e "$NETNS" ] && die "netns $LAB exists; run down first"
  command -v libvirtd >/dev/null || die "libvirtd is not installed (make test installs it)"
  local t0; t0=$(date +%s%N)
  trap 'trap - ERR; log "up failed, cleaning up"; cmd_down; exit 1' ERR
  ip netns add "$LAB"; ip -n "$LAB" link set lo up
  prepare_state
  setup_mntns
  start_daemons
  define_network
  [ -n "${NO_GUEST:-}" ] || guest_up
  client_up
  trap - ERR
  log "up done in $((($(date +%s%N) - t0) / 1000000)) ms"
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
  killpid "$(readpid "$W/reaper.pid")" 5 python3
  # safety net: anything still living in our net namespaces (kill by PID)
  for d in "$LAB" "$GUEST" "$CLIENT"; do
    [ -e "/run/netns/$d" ] || continue
    for p in $(ip netns pids "$d" 2>/dev/null); do log "killing leftover pid $p ($(cat /proc/$p/comm 2>/dev/null))"; killpid "$p" 3; done
  done
  mountpoint -q "$MNTNS" 2>/dev/null && umount -n "$MNTNS"   # drops the mount ns and all lab mounts in it
  mountpoint -q "$NSDIR" 2>/dev/null && umount -n "$NSDIR"
  [ -e "/run/netns/$GUEST" ] && ip netns del "$GUEST"
  [ -e "/run/netns/$CLIENT" ] && ip netns del "$CLIENT"
  [ -e "$NETNS" ] && ip netns del "$LAB"
  rm -rf "$W"
  log "down done"
  return 0
}

cmd_dhcp() { # minimal DHCP client (DISCOVER/OFFER/REQUEST/ACK) in the guest ns, broadcast flag set
  ip netns exec "$GUEST" "$PY" - "$GUEST_MAC" <<'EOF'
import socket, struct, sys, random, time
mac = bytes.fromhex(sys.argv[1].replace(':', ''))
xid = random.getrandbits(32)
def pkt(typ, extra=b''):
    p = struct.pack('!BBBBIHH4s4s4s4s16s192s4s', 1, 1, 6, 0, xid, 0, 0x8000, b'\0'*4, b'\0'*4,
                    b'\0'*4, b'\0'*4, mac.ljust(16, b'\0'), b'\0'*192, b'\x63\x82\x53\x63')
    return p + bytes([53, 1, typ]) + extra + b'\xff'
def opts(b):
    o, i = {}, 240
    while i < len(b) and b[i] != 255:
        if b[i] == 0: i += 1; continue
        o[b[i]] = b[i+2:i+2+b[i+1]]; i += 2 + b[i+1]
    return o
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b'eth0')
s.bind(('', 68)); s.settimeout(5)
def xchg(typ, extra, want):
    s.sendto(pkt(typ, extra), ('255.255.255.255', 67))
    end = time.time() + 5
    while time.time() < end:
        b = s.recv(2048)
        if b[4:8] == struct.pack('!I', xid) and opts(b).get(53) == bytes([want]): return b
    raise SystemExit('no reply')
off = xchg(1, b'', 2)
yi, sid = off[16:20], opts(off)[54]
ack = xchg(3, bytes([50, 4]) + yi + bytes([54, 4]) + sid + bytes([12, 5]) + b'guest', 5)
print('DHCPACK', socket.inet_ntoa(ack[16:20]), 'lease', struct.unpack('!I', opts(ack)[51])[0], 's')
EOF
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

cmd_status() {
  echo "lab=$LAB work=$W"
  echo "libvirtd pid=$(readpid "$W/libvirtd.pid") virtlogd pid=$(readpid "$W/virtlogd.pid") dnsmasq pid=$(readpid "$S/run/network/default.pid")"
  [ -e "$NETNS" ] && { lvirsh list --all; lvirsh net-list --all; bridge -n "$LAB" link; }
}

cmd_notes() { sed -n '/^: <<.NOTES./,/^NOTES$/p' "$0"; }

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  exec) shift; in_lab "$@" ;;
  virsh) shift; lvirsh "$@" ;;
  restart-libvirtd) stop_libvirtd; start_daemons ;;
  reattach) reattach ;;
  dhcp) cmd_dhcp ;;
  ping) shift; cmd_ping "$@" ;;
  status) cmd_status ;;
  notes) cmd_notes ;;
  *) echo "usage: $0 up|down|exec CMD..|virsh ARGS..|restart-libvirtd|reattach|dhcp|ping [IP]|status|notes" >&2; exit 2 ;;
esac
exit 0

: <<'NOTES'
Isolation: netns $LAB + a mount ns pinned at $W/ns/mnt (unshare --mount=FILE, propagation slave)
  with fresh sysfs (netns-correct /sys/class/net, no cgroup mounts), tmpfs /run (no dbus ->
  no firewalld/machined; /run/libvirtd.pid etc. stay private), and bind mounts
  $W/state/{run,etc,lib,log} -> /run/libvirt,/etc/libvirt,/var/lib/libvirt,/var/log/libvirt,
  $LAB_BASE/cache -> /var/cache/libvirt (qemu caps cache; first-ever start ~8 s, then ~0.3 s).
  Hooks live in $W/state/etc/hooks (private).  All mounts use -n (no /run/mount/utab on host).
Host-side access without nsenter: virsh -c 'qemu:///system?socket=$W/state/run/libvirt-sock'
  Files: $W/state/lib/dnsmasq/virbr0.status (JSON leases), $W/state/run/network/default.xml
  (<networkstatus>), $W/state/run/network/default.pid (dnsmasq), $W/state/run/qemu/NAME.{pid,xml}
Firewall: libvirt 9.0 uses iptables (iptables-nft backend here): tables ip filter/nat/mangle,
  chains LIBVIRT_{INP,OUT,FWI,FWO,FWX,PRT}. Inspect: ./lab.sh exec iptables-save | nft list ruleset
STP: stp='on' delay='0' still needs ~4 s (kernel clamps forward_delay to 2 s: listening+learning).
  STP=off ./lab.sh up -> ports forward immediately.
net-destroy/net-start: virbr0 is recreated empty; guest veth AND running VMs' vnetN taps are
  not re-added. ./lab.sh reattach fixes the veth; a libvirtd restart re-plugs vnetN taps.
NOTES

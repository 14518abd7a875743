#!/usr/bin/env bash
# Boots a small Linux guest under QEMU (TCG, no KVM) that serves the Linux kernel NVMe/TCP target (nvmet + nvmet-tcp)
# on a RAM-backed namespace, with the guest's port 4420 forwarded to 127.0.0.1:<port> on this machine.
#
# Usage:
#   nvmet-guest.sh prepare              install what is missing and build the cached kernel + initramfs, then exit
#   nvmet-guest.sh run [options]        prepare, boot the guest, print "ready <port> <subnqn>" on stdout when the
#                                       target is configured, then keep QEMU running until this script is stopped
#     --port N          host port to forward (default: a free port chosen here; QEMU is retried on another if taken)
#     --timeout S       seconds to wait for the guest's ready line (default 240)
#     --stdin-lifetime  also stop QEMU when standard input reaches end of file (a parent that dies closes it)
#   nvmet-guest.sh host [options]       initiator mode: boot the same guest as a Linux NVMe/TCP HOST (nvme-tcp) that
#                                       connects to a target listening on 127.0.0.1:<target-port> of this machine, runs
#                                       the steps in order, prints one "step <n> <kind> <hostnqn> <result...>" line per
#                                       step on stdout, then "done"; the guest powers off
#     --target-port N   the target's port on 127.0.0.1 (the guest reaches it as 10.0.2.100:4420 through a QEMU
#                       guestfwd rule; each guest connection runs a bash /dev/tcp relay to 127.0.0.1:N)
#     --subnqn NQN      subsystem to connect to
#     --step KIND@HOSTNQN  repeatable. KIND: io (connect, wait for /dev/nvme0n1, write 1 MiB at 0 and 64 KiB at
#                       2 MiB with dd oflag=direct, drop caches, read both back with iflag=direct, compare, disconnect),
#                       io-idle (the same after 8 s connected and idle, which only Keep Alive survives),
#                       refuse (connect; "refused" if the kernel's connect fails, else "admitted" and disconnect),
#                       ro (connect, read 1 MiB at 0 with iflag=direct and print its sha256, try a 4 KiB direct write
#                       and report whether it was refused, disconnect)
#     --timeout S       seconds for the whole run (default 300)
#
# Everything else goes to stderr. Exit codes: 0 stopped normally, 1 failure (the console log's tail is printed),
# 2 bad usage, 77 QEMU is missing and cannot be installed here (not root, or no apt-get).
# Environment: SCALIO_INTEROP_CACHE (default /tmp/scalio-interop) holds the downloaded packages and the built guest;
# SCALIO_INTEROP_KERNEL_PKG names the Debian kernel package (default linux-image-cloud-amd64).
#
# The guest: Debian's kernel and modules (apt-get download + dpkg-deb -x, nothing is installed into the host's /boot),
# busybox-static as the whole userland, an /init that loads configfs, virtio, brd and nvmet-tcp, creates /dev/ram0,
# configures nvmet through configfs and prints the ready marker on the serial console. The guest has no route to
# anything: QEMU user networking with restrict=on, only the one host forward (target mode) or the one guest forward
# to 127.0.0.1:<target-port> (host mode). The mode is chosen on the kernel command line (scalio.mode=host).
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

readonly SUBNQN="nqn.2026-11.io.scalio:nvmet-interop"
readonly MARKER="SCALIO-NVMET-READY"
readonly GUEST_TARGET_ADDR="10.0.2.100"
readonly NS_SIZE_MIB=64
readonly HOST_PACKAGES=(qemu-system-x86 kmod)
CACHE="${SCALIO_INTEROP_CACHE:-/tmp/scalio-interop}"
KERNEL_META="${SCALIO_INTEROP_KERNEL_PKG:-linux-image-cloud-amd64}"
SCRIPT_PATH="$(readlink -f "${BASH_SOURCE[0]}")"

log() { printf 'nvmet-guest: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# apt-get download writes into the current directory; as root it warns that the _apt sandbox user cannot write there.
apt_download() { apt-get -q -o APT::Sandbox::User=root download "$@" >&2; }

apt_updated=0
apt_update_once() {
  if [ "$apt_updated" = 0 ]; then
    log "apt-get update"
    apt-get -q -o DPkg::Lock::Timeout=300 update >&2 || return 1
    apt_updated=1
  fi
}

ensure_host_tools() {
  local missing=()
  command -v qemu-system-x86_64 >/dev/null 2>&1 || missing+=(qemu-system-x86)
  command -v modprobe >/dev/null 2>&1 || missing+=(kmod)
  command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb is required (this script expects a Debian-family host)"
  command -v gzip >/dev/null 2>&1 || die "gzip is required"
  if [ "${#missing[@]}" -eq 0 ]; then return 0; fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "SKIP: ${missing[*]} not installed and cannot be installed here (needs root and apt-get);"
    log "      install with: apt-get install --no-install-recommends ${HOST_PACKAGES[*]}"
    exit 77
  fi
  log "installing ${missing[*]}"
  apt_update_once || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 install -y --no-install-recommends \
    "${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
}

# Downloads one Debian package into $CACHE/debs (once) and prints its path.
fetch_deb() {
  local name="$1" found
  mkdir -p "$CACHE/debs"
  found=$(find "$CACHE/debs" -maxdepth 1 -name "${name}_*.deb" -print -quit)
  if [ -z "$found" ]; then
    if ! (cd "$CACHE/debs" && apt_download "$name"); then
      apt_update_once || die "apt-get update failed"
      (cd "$CACHE/debs" && apt_download "$name") || die "apt-get download $name failed"
    fi
    found=$(find "$CACHE/debs" -maxdepth 1 -name "${name}_*.deb" -print -quit)
  fi
  [ -n "$found" ] || die "apt-get download $name produced no ${name}_*.deb"
  printf '%s\n' "$found"
}

# The cloud kernel's meta package depends on exactly one versioned image package; resolve it from the .deb itself.
kernel_image_package() {
  local meta deps
  meta=$(fetch_deb "$KERNEL_META")
  deps=$(dpkg-deb -f "$meta" Depends)
  case "$deps" in
    linux-image-*) ;;
    *) # not a meta package: it is the image itself
       printf '%s\n' "$KERNEL_META"; return 0 ;;
  esac
  printf '%s\n' "$deps" | tr ',' '\n' | sed -n 's/^ *\(linux-image-[^ ]*\).*/\1/p' | head -n 1
}

write_init() {
  # $1: output path. The guest's PID 1 (busybox sh). Each step fails loudly on the console; a failure powers off
  # so that the host sees QEMU exit instead of waiting for its timeout.
  cat > "$1" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
fail() { echo "SCALIO-NVMET-FAILED: \$*"; poweroff -f; }
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r ko args; do
  insmod "/lib/modules/\$ko" \$args || fail "insmod \$ko"
done < /modules.load
mount -t configfs configfs /sys/kernel/config || fail "mount configfs"
ip link set lo up
i=0; while [ ! -e /sys/class/net/eth0 ] && [ \$i -lt 50 ]; do sleep 0.1; i=\$((i+1)); done
ip addr add 10.0.2.15/24 dev eth0 || fail "no eth0"
ip link set eth0 up || fail "eth0 up"
param() { for w in \$(cat /proc/cmdline); do case "\$w" in "\$1"=*) echo "\${w#*=}"; return 0 ;; esac; done; }
if [ "\$(param scalio.mode)" = host ]; then
  . /host-steps.sh
  poweroff -f
fi
[ -b /dev/ram0 ] || fail "no /dev/ram0"
T=/sys/kernel/config/nvmet
S=\$T/subsystems/$SUBNQN
mkdir \$S || fail "mkdir subsystem"
echo 1 > \$S/attr_allow_any_host
mkdir \$S/namespaces/1
printf /dev/ram0 > \$S/namespaces/1/device_path
echo 1 > \$S/namespaces/1/enable || fail "enable namespace"
mkdir \$T/ports/1
echo tcp > \$T/ports/1/addr_trtype
echo ipv4 > \$T/ports/1/addr_adrfam
echo 0.0.0.0 > \$T/ports/1/addr_traddr
echo 4420 > \$T/ports/1/addr_trsvcid
ln -s \$S \$T/ports/1/subsystems/$SUBNQN || fail "link subsystem to port"
# From here on, the target's own messages (controller created, errors) reach the console log.
echo 7 > /proc/sys/kernel/printk
echo "$MARKER $SUBNQN"
while true; do sleep 3600; done
EOF
  chmod 755 "$1"
}

write_host_steps() {
  # $1: output path. Sourced by /init in host mode: runs the steps of scalio.steps against scalio.subnqn at
  # $GUEST_TARGET_ADDR:4420 and prints "SCALIO-HOST-STEP <n> <kind> <hostnqn> <result...>" per step, then SCALIO-HOST-DONE.
  cat > "$1" <<'EOF_STEPS'
SUB=$(param scalio.subnqn)
STEPS=$(param scalio.steps)
mkdir -p /tmp
# Kernel messages would interleave with the result lines on the serial console: keep them in the ring buffer and
# print the NVMe ones at the end, from here, one write per line.
echo 1 > /proc/sys/kernel/printk
[ -e /dev/nvme-fabrics ] || { echo "SCALIO-NVMET-FAILED: no /dev/nvme-fabrics"; poweroff -f; }

# Connects as host $1; returns non-zero if the kernel's connect fails.
connect() {
  printf 'transport=tcp,traddr=TARGET_ADDR,trsvcid=4420,nqn=%s,hostnqn=%s' "$SUB" "$1" > /dev/nvme-fabrics 2>/dev/null
}

# Prints the controller (nvmeN) connected to $SUB, if any.
controller() {
  for c in /sys/class/nvme/nvme*; do
    [ -e "$c/subsysnqn" ] && [ "$(cat "$c/subsysnqn")" = "$SUB" ] && { echo "${c##*/}"; return 0; }
  done
  return 1
}

# Waits up to 60 s for the namespace's block device; prints its path.
wait_device() {
  i=0
  while [ $i -lt 600 ]; do
    for d in /dev/nvme*n1; do [ -b "$d" ] && { echo "$d"; return 0; }; done
    sleep 0.1; i=$((i+1))
  done
  return 1
}

disconnect() {
  c=$(controller) || return 0
  echo 1 > "/sys/class/nvme/$c/delete_controller"
  i=0; while [ -e "/sys/class/nvme/$c" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
  [ ! -e "/sys/class/nvme/$c" ]
}

# Runs dd with the given operands; on failure prints "<what>:<dd's last message>" and returns 1.
run_dd() {
  what=$1; shift
  out=$(dd "$@" 2>&1) && return 0
  echo "$what:$(echo "$out" | tail -n 1 | tr ' ' '_')"
  return 1
}

step_io() {
  connect "$1" || { echo "fail connect-refused"; return; }
  dev=$(wait_device) || { disconnect; echo "fail no-device"; return; }
  [ "${2:-0}" -gt 0 ] && sleep "$2"   # idle while connected: only Keep Alive keeps the controller
  dd if=/dev/urandom of=/tmp/big bs=1M count=1 2>/dev/null
  dd if=/dev/urandom of=/tmp/small bs=64k count=1 2>/dev/null
  e=$(run_dd write-1MiB if=/tmp/big of="$dev" bs=1M count=1 oflag=direct) || { disconnect; echo "fail $e"; return; }
  e=$(run_dd write-64KiB if=/tmp/small of="$dev" bs=64k count=1 seek=32 oflag=direct) || { disconnect; echo "fail $e"; return; }
  sync
  echo 3 > /proc/sys/vm/drop_caches
  e=$(run_dd read-1MiB if="$dev" of=/tmp/big.back bs=1M count=1 iflag=direct) || { disconnect; echo "fail $e"; return; }
  e=$(run_dd read-64KiB if="$dev" of=/tmp/small.back bs=64k count=1 skip=32 iflag=direct) || { disconnect; echo "fail $e"; return; }
  same=identical
  cmp -s /tmp/big /tmp/big.back || same=differ-1MiB
  cmp -s /tmp/small /tmp/small.back || same=differ-64KiB
  big=$(sha256sum /tmp/big | cut -d' ' -f1)
  small=$(sha256sum /tmp/small | cut -d' ' -f1)
  dis=disconnected; disconnect || dis=disconnect-failed
  if [ $same = identical ] && [ $dis = disconnected ]; then r=ok; else r=fail; fi
  echo "$r dev=$dev $same $dis big=$big small=$small"
}

step_refuse() {
  if connect "$1"; then
    disconnect; echo "admitted"
  else
    echo "refused"
  fi
}

step_ro() {
  connect "$1" || { echo "fail connect-refused"; return; }
  dev=$(wait_device) || { disconnect; echo "fail no-device"; return; }
  e=$(run_dd read-1MiB if="$dev" of=/tmp/ro bs=1M count=1 iflag=direct) || { disconnect; echo "fail $e"; return; }
  sum=$(sha256sum /tmp/ro | cut -d' ' -f1)
  w=write-refused
  dd if=/dev/zero of="$dev" bs=4k count=1 seek=256 oflag=direct 2>/dev/null && w=write-accepted
  dis=disconnected; disconnect || dis=disconnect-failed
  echo "ok dev=$dev sha256=$sum $w $dis"
}

n=0
for step in $(echo "$STEPS" | tr ',' ' '); do
  n=$((n+1)); kind=${step%%@*}; host=${step#*@}
  case "$kind" in
    io) r=$(step_io "$host") ;;
    io-idle) r=$(step_io "$host" 8) ;;
    refuse) r=$(step_refuse "$host") ;;
    ro) r=$(step_ro "$host") ;;
    *) r="fail unknown-step" ;;
  esac
  echo "SCALIO-HOST-STEP $n $kind $host $r"
done
dmesg | grep -i nvme
echo "SCALIO-HOST-DONE"
EOF_STEPS
  sed -i "s/TARGET_ADDR/$GUEST_TARGET_ADDR/" "$1"
}

# Builds $CACHE/guest-<kernel package>-<hash of this script>/{vmlinuz,initrd.gz} once; prints that directory.
prepare_guest() {
  ensure_host_tools
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  flock -w 600 9 || die "another nvmet-guest.sh holds $CACHE/.lock"

  local image stamp dir
  image=$(kernel_image_package)
  [ -n "$image" ] || die "cannot resolve the kernel image package of $KERNEL_META"
  stamp=$(sha256sum "$SCRIPT_PATH" | cut -c1-12)
  dir="$CACHE/guest-$image-$stamp"
  if [ -s "$dir/vmlinuz" ] && [ -s "$dir/initrd.gz" ]; then
    flock -u 9; printf '%s\n' "$dir"; return 0
  fi

  log "building the guest in $dir"
  local work kdeb bdeb kver root modfile
  rm -rf "$CACHE"/build.*   # left by an interrupted build (we hold the lock)
  work=$(mktemp -d "$CACHE/build.XXXXXX")
  kdeb=$(fetch_deb "$image")
  bdeb=$(fetch_deb busybox-static)
  dpkg-deb -x "$kdeb" "$work/kernel"
  dpkg-deb -x "$bdeb" "$work/busybox"
  kver=$(find "$work/kernel/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | head -n 1)
  [ -n "$kver" ] || die "no modules directory in $kdeb"
  # The package's postinst normally runs depmod; run it on the unpacked tree so modprobe can order dependencies.
  depmod -b "$work/kernel" "$kver"

  root="$work/root"
  mkdir -p "$root"/{bin,dev,proc,sys,lib/modules}
  cp "$work/busybox/bin/busybox" "$root/bin/busybox"
  : > "$root/modules.load"
  # brd: one 64 MiB RAM disk. The cloud kernel builds configfs and virtio as modules.
  local m line ko seen=" "
  for m in configfs virtio_pci virtio_net brd nvmet nvmet-tcp nvme-tcp; do
    while read -r line; do
      case "$line" in
        insmod\ *) ;;
        builtin\ *) continue ;;
        *) die "modprobe --show-depends $m: unexpected line: $line" ;;
      esac
      modfile=$(printf '%s\n' "$line" | awk '{print $2}')
      ko=$(basename "$modfile")
      case "$seen" in *" $ko "*) continue ;; esac
      seen="$seen$ko "
      case "$ko" in
        *.ko) cp "$modfile" "$root/lib/modules/$ko" ;;
        *.ko.xz) xz -dc "$modfile" > "$root/lib/modules/${ko%.xz}"; ko="${ko%.xz}" ;;
        *.ko.zst) zstd -qdc "$modfile" > "$root/lib/modules/${ko%.zst}"; ko="${ko%.zst}" ;;
        *) die "unknown module file $modfile" ;;
      esac
      if [ "$ko" = brd.ko ]; then
        printf '%s rd_nr=1 rd_size=%d\n' "$ko" $((NS_SIZE_MIB * 1024)) >> "$root/modules.load"
      else
        printf '%s\n' "$ko" >> "$root/modules.load"
      fi
    done < <(modprobe -d "$work/kernel" -S "$kver" --show-depends "$m")
  done
  write_init "$root/init"
  write_host_steps "$root/host-steps.sh"

  mkdir -p "$dir.tmp"
  (cd "$root" && find . | LC_ALL=C sort | "$root/bin/busybox" cpio -o -H newc 2>/dev/null) | gzip -6 > "$dir.tmp/initrd.gz"
  cp "$work/kernel/boot/vmlinuz-$kver" "$dir.tmp/vmlinuz"
  printf '%s\n' "$kver" > "$dir.tmp/kernel-version"
  cp "$root/modules.load" "$dir.tmp/modules.load"
  rm -rf "$dir"; mv "$dir.tmp" "$dir"
  rm -rf "$work"
  # Guests built by older versions of this script are no longer used.
  find "$CACHE" -mindepth 1 -maxdepth 1 -type d -name 'guest-*' ! -path "$dir" -exec rm -rf {} +
  flock -u 9
  log "guest built: kernel $kver, modules: $(cut -d' ' -f1 "$dir/modules.load" | tr '\n' ' ')"
  printf '%s\n' "$dir"
}

free_port() {
  # A port in the ephemeral-looking range that nothing listens on now (QEMU's bind is the final word).
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then printf '%s\n' "$p"; return 0; fi
  done
  die "no free port found"
}

qemu_pid=""
watcher_pid=""
run_dir=""
cleanup() {
  if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
    kill "$qemu_pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$qemu_pid" 2>/dev/null || true
  fi
  if [ -n "$watcher_pid" ]; then kill "$watcher_pid" 2>/dev/null || true; fi
  if [ -n "$run_dir" ]; then rm -rf "$run_dir"; fi
}

console_tail() {
  log "---- guest console (last 60 lines of $run_dir/console.log) ----"
  tail -n 60 "$run_dir/console.log" >&2 2>/dev/null || true
  log "---- end of console ----"
}

run_guest() {
  local port="" timeout=240 stdin_lifetime=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --port) port="${2:?--port needs a number}"; shift 2 ;;
      --timeout) timeout="${2:?--timeout needs seconds}"; shift 2 ;;
      --stdin-lifetime) stdin_lifetime=1; shift ;;
      *) log "unknown option $1"; exit 2 ;;
    esac
  done
  case "$port" in ''|*[!0-9]*) [ -z "$port" ] || { log "--port: not a number: $port"; exit 2; } ;; esac
  case "$timeout" in ''|*[!0-9]*) log "--timeout: not a number: $timeout"; exit 2 ;; esac

  local dir fixed_port=$port start
  start=$(date +%s)
  dir=$(prepare_guest)
  run_dir=$(mktemp -d "${TMPDIR:-/tmp}/scalio-nvmet-run.XXXXXX")
  trap cleanup EXIT
  trap 'exit 0' INT TERM HUP

  for _ in 1 2 3 4 5; do
    [ -n "$fixed_port" ] || port=$(free_port)
    : > "$run_dir/console.log"
    qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m 384 \
      -nodefaults -no-user-config -display none -no-reboot \
      -kernel "$dir/vmlinuz" -initrd "$dir/initrd.gz" \
      -append "console=ttyS0 panic=-1 loglevel=4" \
      -serial "file:$run_dir/console.log" \
      -netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:4420" \
      -device virtio-net-pci,netdev=n0,romfile= \
      < /dev/null > "$run_dir/qemu.out" 2>&1 &
    qemu_pid=$!
    sleep 0.5
    if ! kill -0 "$qemu_pid" 2>/dev/null && grep -qi "hostfwd\|forwarding rule" "$run_dir/qemu.out" \
      && [ -z "$fixed_port" ]; then
      log "port $port taken, retrying"; qemu_pid=""; continue
    fi
    break
  done
  log "qemu pid $qemu_pid, port $port, console $run_dir/console.log"

  local deadline=$((start + timeout))
  while :; do
    if grep -q "^$MARKER " "$run_dir/console.log" 2>/dev/null; then break; fi
    if grep -q "SCALIO-NVMET-FAILED\|Kernel panic" "$run_dir/console.log" 2>/dev/null; then
      console_tail; die "the guest failed to configure the target"
    fi
    if ! kill -0 "$qemu_pid" 2>/dev/null; then
      cat "$run_dir/qemu.out" >&2; console_tail; die "qemu exited before the target was ready"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      console_tail; die "the guest was not ready within ${timeout}s"
    fi
    sleep 0.2
  done
  log "target ready after $(( $(date +%s) - start ))s"
  printf 'ready %s %s\n' "$port" "$SUBNQN"

  if [ "$stdin_lifetime" = 1 ]; then
    # Ends when the parent closes our stdin (or dies), or when QEMU exits.
    # (A background job's stdin would be /dev/null without the explicit redirection.)
    ( while read -r _; do :; done; kill -TERM $$ 2>/dev/null ) <&0 &
    watcher_pid=$!
  fi
  wait "$qemu_pid" || true
  qemu_pid=""
  log "qemu exited"
  console_tail
  exit 1
}

run_host() {
  local target_port="" subnqn="" timeout=300 steps="" start dir relay
  while [ $# -gt 0 ]; do
    case "$1" in
      --target-port) target_port="${2:?--target-port needs a number}"; shift 2 ;;
      --subnqn) subnqn="${2:?--subnqn needs an NQN}"; shift 2 ;;
      --step) steps="${steps:+$steps,}${2:?--step needs KIND@HOSTNQN}"; shift 2 ;;
      --timeout) timeout="${2:?--timeout needs seconds}"; shift 2 ;;
      *) log "unknown option $1"; exit 2 ;;
    esac
  done
  case "$target_port" in ''|*[!0-9]*) log "--target-port: not a number: '$target_port'"; exit 2 ;; esac
  case "$timeout" in ''|*[!0-9]*) log "--timeout: not a number: $timeout"; exit 2 ;; esac
  [ -n "$subnqn" ] && [ -n "$steps" ] || { log "host needs --subnqn and at least one --step"; exit 2; }
  case "$subnqn$steps" in *' '*|*=*) log "NQNs and steps must not contain spaces or '='"; exit 2 ;; esac

  start=$(date +%s)
  dir=$(prepare_guest)
  run_dir=$(mktemp -d "${TMPDIR:-/tmp}/scalio-nvme-host.XXXXXX")
  trap cleanup EXIT
  trap 'exit 1' INT TERM HUP
  # Each connection the guest opens to $GUEST_TARGET_ADDR:4420 spawns this relay (libslirp runs guestfwd cmd: per
  # connection with the socket as stdin/stdout), which connects to the target on this machine's loopback only.
  relay="bash -c 'exec 3<>/dev/tcp/127.0.0.1/$target_port 2>/dev/null || exit 1; cat <&3 & c=\$!; cat >&3; kill \$c 2>/dev/null'"
  : > "$run_dir/console.log"
  qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m 384 \
    -nodefaults -no-user-config -display none -no-reboot \
    -kernel "$dir/vmlinuz" -initrd "$dir/initrd.gz" \
    -append "console=ttyS0 panic=-1 loglevel=4 scalio.mode=host scalio.subnqn=$subnqn scalio.steps=$steps" \
    -serial "file:$run_dir/console.log" \
    -netdev "user,id=n0,restrict=on,guestfwd=tcp:$GUEST_TARGET_ADDR:4420-cmd:$relay" \
    -device virtio-net-pci,netdev=n0,romfile= \
    < /dev/null > "$run_dir/qemu.out" 2>&1 &
  qemu_pid=$!
  log "qemu pid $qemu_pid (host mode, target 127.0.0.1:$target_port), console $run_dir/console.log"

  local deadline=$((start + timeout))
  while :; do
    if grep -q "^SCALIO-HOST-DONE" "$run_dir/console.log" 2>/dev/null; then break; fi
    if grep -q "SCALIO-NVMET-FAILED\|Kernel panic" "$run_dir/console.log" 2>/dev/null; then
      console_tail; die "the guest failed"
    fi
    if ! kill -0 "$qemu_pid" 2>/dev/null; then
      # The guest powers off right after its last line: look once more before calling it a failure.
      if grep -q "^SCALIO-HOST-DONE" "$run_dir/console.log" 2>/dev/null; then break; fi
      cat "$run_dir/qemu.out" >&2; console_tail; die "qemu exited before the steps were done"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      console_tail; die "the steps were not done within ${timeout}s"
    fi
    sleep 0.2
  done
  log "steps done after $(( $(date +%s) - start ))s"
  console_tail
  tr -d '\r' < "$run_dir/console.log" | sed -n 's/^SCALIO-HOST-STEP /step /p'
  echo done
}

case "${1:-}" in
  host) shift; run_host "$@" ;;
  prepare) shift; dir=$(prepare_guest); printf 'prepared %s\n' "$dir" ;;
  run) shift; run_guest "$@" ;;
  -h|--help|"") sed -n '2,/^set -euo/p' "$SCRIPT_PATH" | sed '$d; s/^# \{0,1\}//' >&2; [ -n "${1:-}" ] || exit 2 ;;
  *) log "unknown command $1 (prepare | run | host)"; exit 2 ;;
esac

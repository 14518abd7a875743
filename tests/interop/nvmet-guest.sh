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
#
# Everything else goes to stderr. Exit codes: 0 stopped normally, 1 failure (the console log's tail is printed),
# 2 bad usage, 77 QEMU is missing and cannot be installed here (not root, or no apt-get).
# Environment: SCALIO_INTEROP_CACHE (default /tmp/scalio-interop) holds the downloaded packages and the built guest;
# SCALIO_INTEROP_KERNEL_PKG names the Debian kernel package (default linux-image-cloud-amd64).
#
# The guest: Debian's kernel and modules (apt-get download + dpkg-deb -x, nothing is installed into the host's /boot),
# busybox-static as the whole userland, an /init that loads configfs, virtio, brd and nvmet-tcp, creates /dev/ram0,
# configures nvmet through configfs and prints the ready marker on the serial console. The guest has no route to
# anything: QEMU user networking with restrict=on, only the one host forward.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

readonly SUBNQN="nqn.2026-11.io.scalio:nvmet-interop"
readonly MARKER="SCALIO-NVMET-READY"
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
  for m in configfs virtio_pci virtio_net brd nvmet nvmet-tcp; do
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

case "${1:-}" in
  prepare) shift; dir=$(prepare_guest); printf 'prepared %s\n' "$dir" ;;
  run) shift; run_guest "$@" ;;
  -h|--help|"") sed -n '2,/^set -euo/p' "$SCRIPT_PATH" | sed '$d; s/^# \{0,1\}//' >&2; [ -n "${1:-}" ] || exit 2 ;;
  *) log "unknown command $1 (prepare | run)"; exit 2 ;;
esac

#!/bin/sh
# Runs this package's real-kernel tests (TestLoopback* and TestKernelMixer*,
# build tag realkernel) inside a QEMU guest with snd-aloop, and snd-dummy
# where the kernel has it (Debian amd64; not arm64), for one architecture.
# VMLINUZ and MODULES (the /lib/modules/<release> directory) come from an
# extracted Debian linux-image package, as `make hil` caches it and passes
# them; busybox must be a static binary for the guest.
#
#   audio/alsasink/testdata/qemu-loopback.sh arm64 VMLINUZ MODULES BUSYBOX   # arm64 and armv6 binaries
#   audio/alsasink/testdata/qemu-loopback.sh amd64 VMLINUZ MODULES BUSYBOX   # amd64 and 386 binaries
#
# Prints the guest's test output; exits 0 only on "VMTEST-RESULT: PASS".
set -eu
arch=$1 vmlinuz=$2 modules=$3 busybox=$4
pkg=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/bin" "$root/lib/modules" "$root/proc" "$root/sys" "$root/dev"
cp "$busybox" "$root/bin/busybox"
for m in soundcore core/snd core/snd-timer core/snd-pcm drivers/snd-aloop; do
  set -- "$modules"/kernel/sound/$m.ko*
  f=$1
  case $f in
    *.xz) xz -dc "$f" > "$root/lib/modules/$(basename "$f" .xz)" ;;
    *) cp "$f" "$root/lib/modules/" ;;
  esac
done
# snd-dummy: a mixer with a dB scale (TLV) for the mixer tests.
for f in "$modules"/kernel/sound/drivers/snd-dummy.ko*; do
  case $f in
    *.xz) xz -dc "$f" > "$root/lib/modules/snd-dummy.ko" ;;
    *.ko) cp "$f" "$root/lib/modules/" ;;
  esac
done
case $arch in
  arm64) (cd "$pkg" && CGO_ENABLED=0 GOARCH=arm64 go test -tags realkernel -c -o "$root/t1" . && CGO_ENABLED=0 GOARCH=arm GOARM=6 go test -tags realkernel -c -o "$root/t2" .)
         qemu="qemu-system-aarch64 -M virt -cpu cortex-a57" console=ttyAMA0 ;;
  amd64) (cd "$pkg" && CGO_ENABLED=0 GOARCH=amd64 go test -tags realkernel -c -o "$root/t1" . && CGO_ENABLED=0 GOARCH=386 go test -tags realkernel -c -o "$root/t2" .)
         qemu="qemu-system-x86_64" console=ttyS0 ;;
  *) echo "unknown arch $arch" >&2; exit 2 ;;
esac
cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin; export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in soundcore snd snd-timer snd-pcm; do insmod /lib/modules/$m.ko; done
insmod /lib/modules/snd-aloop.ko pcm_substreams=1
for i in $(seq 100); do [ -e /dev/snd/pcmC0D1c ] && break; usleep 20000; done
# After snd-aloop, so that Loopback stays card 0.
if [ -e /lib/modules/snd-dummy.ko ]; then
  insmod /lib/modules/snd-dummy.ko && export HIL_SND_DUMMY=1
  for i in $(seq 100); do [ -e /dev/snd/controlC1 ] && break; usleep 20000; done
fi
( sleep 120; echo "VMTEST-RESULT: FAIL watchdog"; poweroff -f ) &
ok=1
/t1 -test.run 'Loopback|KernelMixer' -test.v || ok=0
/t2 -test.run 'Loopback|KernelMixer' -test.v || ok=0
[ $ok = 1 ] && echo "VMTEST-RESULT: PASS" || echo "VMTEST-RESULT: FAIL"
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null) | gzip -1 > "$work/initrd.gz"
# shellcheck disable=SC2086 # $qemu is the program and its machine options
timeout 180 $qemu -accel tcg -m 256 -smp 1 -display none -serial stdio -monitor none -no-reboot -net none \
  -kernel "$vmlinuz" -initrd "$work/initrd.gz" -append "console=$console quiet panic=-1" </dev/null | tee "$work/serial.log" | tr -d '\r'
grep -q '^VMTEST-RESULT: PASS' "$work/serial.log"

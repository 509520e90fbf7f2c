#!/bin/busybox sh
# shellcheck shell=dash
# /init of the Speakerbox initramfs (`make image`): Debian's kernels build
# the SD card and file system drivers as modules, so this loads them,
# mounts the read-only root named by root= and switches into it.
/bin/busybox --install -s /bin
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

# Load order from the image builder: dependencies first. A module the
# kernel refuses is said and skipped; the root mount below decides.
while read -r m; do
	insmod "/lib/modules/$m.ko" 2>/dev/null || echo "initramfs: module $m not loaded"
done </etc/modules

root=/dev/mmcblk0p2
fstype=squashfs
read -r cmdline </proc/cmdline
for w in $cmdline; do
	case $w in
	root=*) root=${w#root=} ;;
	rootfstype=*) fstype=${w#rootfstype=} ;;
	esac
done

# rootwait: the card appears after the SD host driver probed it.
i=0
while [ ! -b "$root" ] && [ "$i" -lt 100 ]; do
	usleep 100000
	i=$((i + 1))
done

if ! mount -t "$fstype" -o ro "$root" /newroot; then
	echo "initramfs: cannot mount the root $root ($fstype); a shell follows"
	exec sh
fi
mount --move /dev /newroot/dev
umount /sys
umount /proc
exec switch_root /newroot /sbin/init

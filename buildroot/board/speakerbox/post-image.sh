#!/bin/bash
# Buildroot post-image script (BR2_ROOTFS_POST_IMAGE_SCRIPT): the SD card
# image of genimage.cfg.in, with the boot partition's files found in
# BINARIES_DIR (firmware, kernel, device trees) and the owner's settings
# file, speakerbox.txt.
set -euo pipefail

board_dir=$(dirname "$0")
cfg=$BINARIES_DIR/genimage-speakerbox.cfg
tmp=$BUILD_DIR/genimage.tmp

cp "$board_dir/boot/speakerbox.txt" "$BINARIES_DIR/speakerbox.txt"

files=()
for f in "$BINARIES_DIR"/*.dtb "$BINARIES_DIR"/rpi-firmware/* "$BINARIES_DIR/speakerbox.txt"; do
	[ -e "$f" ] && files+=("${f#"$BINARIES_DIR"/}")
done
kernel=$(sed -n 's/^kernel=//p' "$BINARIES_DIR/rpi-firmware/config.txt")
files+=("$kernel")

boot_files=$(printf '\\t\\t\\t"%s",\\n' "${files[@]}")
sed "s|#BOOT_FILES#|$boot_files|" "$board_dir/genimage.cfg.in" >"$cfg"

# genimage copies its root path; it builds no root file system here, so an
# empty one saves the copy.
rootpath=$(mktemp -d)
trap 'rm -rf "$rootpath"' EXIT
rm -rf "$tmp"
genimage --rootpath "$rootpath" --tmppath "$tmp" --inputpath "$BINARIES_DIR" \
	--outputpath "$BINARIES_DIR" --config "$cfg"

#!/bin/sh
# Buildroot post-build script (BR2_ROOTFS_POST_BUILD_SCRIPT), called with
# the target directory: what the overlay cannot carry in git.
set -eu
TARGET=$1

# Mount points of the read-only root (etc/fstab).
mkdir -p "$TARGET/boot" "$TARGET/var/lib/speakerbox"

# The clock's floor (etc/init.d/S20clock): a Pi has no clock, and the time
# never goes back past the build. SOURCE_DATE_EPOCH keeps builds
# reproducible.
mkdir -p "$TARGET/etc/speakerbox"
echo "${SOURCE_DATE_EPOCH:-$(date -u +%s)}" >"$TARGET/etc/speakerbox/build-time"

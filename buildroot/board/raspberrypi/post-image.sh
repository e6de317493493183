#!/bin/sh
# Buildroot post-image script of the wsd-scan-server appliance.
# Called as: post-image.sh BINARIES_DIR, with BUILD_DIR and HOST_DIR set.
#
# Writes BINARIES_DIR/sdcard.img: a FAT boot partition (Raspberry Pi
# firmware, config.txt, cmdline.txt, device trees and overlays, the kernel
# named by config.txt's "kernel=") followed by rootfs.ext4, and, when host
# bmap-tools is built, its block map sdcard.img.bmap for "bmaptool copy".

set -eu

board_dir="$(dirname "$0")"
images="$1"
firmware_config="${images}/rpi-firmware/config.txt"

kernel="$(sed -n 's/^kernel=//p' "${firmware_config}")"
if [ -z "${kernel}" ] || [ ! -f "${images}/${kernel}" ]; then
	echo "post-image.sh: no kernel= in ${firmware_config}," \
		"or ${images}/${kernel} missing" >&2
	exit 1
fi

# One quoted, comma-terminated genimage entry per file, paths relative to
# BINARIES_DIR; genimage puts each at the root of the FAT file system.
entries=""
for path in "${images}"/rpi-firmware/* "${images}"/*.dtb "${images}/${kernel}"; do
	[ -e "${path}" ] || continue
	entries="${entries}\t\t\t\"${path#"${images}"/}\",\n"
done

awk -v entries="${entries}" \
	'/^@BOOT_FILES@$/ { printf "%s", entries; next } { print }' \
	"${board_dir}/genimage.cfg.in" > "${images}/genimage.cfg"

# genimage copies --rootpath before reading it; rootfs.ext4 is already
# built, so hand it an empty directory.
empty_root="$(mktemp -d)"
trap 'rm -rf "${empty_root}"' EXIT
rm -rf "${BUILD_DIR}/genimage.tmp"

genimage \
	--rootpath "${empty_root}" \
	--tmppath "${BUILD_DIR}/genimage.tmp" \
	--inputpath "${images}" \
	--outputpath "${images}" \
	--config "${images}/genimage.cfg"

if [ -x "${HOST_DIR}/bin/bmaptool" ]; then
	"${HOST_DIR}/bin/bmaptool" create \
		-o "${images}/sdcard.img.bmap" "${images}/sdcard.img"
fi

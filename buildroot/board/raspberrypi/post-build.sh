#!/bin/sh
# Buildroot post-build script of the wsd-scan-server appliance.
# Called as: post-build.sh TARGET_DIR, with BR2_EXTERNAL_WSD_SCAN_PATH set.
#
# Installs the repository's example configuration as the service's
# /etc/wsd-scan-server/config.toml.  Runs after the packages are installed
# and before "systemctl preset-all" enables wsd-scan-server.service.

set -eu

target_dir="$1"
example="${BR2_EXTERNAL_WSD_SCAN_PATH}/../config.example.toml"

if [ -f "${example}" ]; then
	install -D -m 0644 "${example}" \
		"${target_dir}/etc/wsd-scan-server/config.toml"
else
	echo "post-build.sh: ${example} not found," \
		"the image has no /etc/wsd-scan-server/config.toml" >&2
fi

################################################################################
#
# wsd-scan-server
#
################################################################################

# Built from the repository this external tree lives in.
WSD_SCAN_SERVER_VERSION = $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' \
	$(BR2_EXTERNAL_WSD_SCAN_PATH)/../pyproject.toml)
WSD_SCAN_SERVER_SITE = $(BR2_EXTERNAL_WSD_SCAN_PATH)/..
WSD_SCAN_SERVER_SITE_METHOD = local
WSD_SCAN_SERVER_LICENSE = GPL-3.0+
WSD_SCAN_SERVER_SETUP_TYPE = setuptools
# sane-usbids-rules.py reads sane-backends' device descriptions.
WSD_SCAN_SERVER_DEPENDENCIES = sane-backends
WSD_SCAN_SERVER_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude=/buildroot --exclude=/tests --exclude=/bench \
	--exclude=/build --exclude=/.venv --exclude=__pycache__ \
	--exclude=.pytest_cache

# Same user as systemd/wsd-scan-server.sysusers, created at build time so
# that a read-only root file system works too.
define WSD_SCAN_SERVER_USERS
	wsd-scan -1 wsd-scan -1 * /var/lib/wsd-scan-server - scanner WS-Scan server
endef

define WSD_SCAN_SERVER_INSTALL_SYSTEM_FILES
	$(INSTALL) -D -m 0644 $(@D)/systemd/wsd-scan-server.sysusers \
		$(TARGET_DIR)/usr/lib/sysusers.d/wsd-scan-server.conf
	$(INSTALL) -D -m 0644 $(@D)/systemd/60-wsd-scan-server.rules \
		$(TARGET_DIR)/usr/lib/udev/rules.d/60-wsd-scan-server.rules
	$(HOST_DIR)/bin/python3 $(WSD_SCAN_SERVER_PKGDIR)/sane-usbids-rules.py \
		$(TARGET_DIR)/usr/lib/udev/rules.d/55-sane-usbids.rules \
		$(SANE_BACKENDS_DIR)/doc/descriptions
endef
WSD_SCAN_SERVER_POST_INSTALL_TARGET_HOOKS += WSD_SCAN_SERVER_INSTALL_SYSTEM_FILES

define WSD_SCAN_SERVER_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(@D)/systemd/wsd-scan-server.service \
		$(TARGET_DIR)/usr/lib/systemd/system/wsd-scan-server.service
	$(INSTALL) -D -m 0644 $(WSD_SCAN_SERVER_PKGDIR)/50-wsd-scan-server.preset \
		$(TARGET_DIR)/usr/lib/systemd/system-preset/50-wsd-scan-server.preset
endef

$(eval $(python-package))

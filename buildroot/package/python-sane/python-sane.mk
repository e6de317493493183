################################################################################
#
# python-sane
#
################################################################################

PYTHON_SANE_VERSION = 2.9.2
PYTHON_SANE_SOURCE = python_sane-$(PYTHON_SANE_VERSION).tar.gz
PYTHON_SANE_SITE = https://files.pythonhosted.org/packages/45/e9/e8baff69fc2347606c547201204d4b4843c7ad8ecb9164eceee42016eff6
PYTHON_SANE_SETUP_TYPE = setuptools
PYTHON_SANE_LICENSE = HPND
PYTHON_SANE_LICENSE_FILES = COPYING
# The _sane extension links against libsane.
PYTHON_SANE_DEPENDENCIES = sane-backends

$(eval $(python-package))

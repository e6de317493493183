################################################################################
#
# python-pyvips
#
################################################################################

PYTHON_PYVIPS_VERSION = 3.2.0
PYTHON_PYVIPS_SOURCE = pyvips-$(PYTHON_PYVIPS_VERSION).tar.gz
PYTHON_PYVIPS_SITE = https://files.pythonhosted.org/packages/source/p/pyvips
PYTHON_PYVIPS_SETUP_TYPE = setuptools
PYTHON_PYVIPS_LICENSE = MIT
PYTHON_PYVIPS_LICENSE_FILES = LICENSE.txt
# setup.py builds the cffi extension against libvips (found with pkg-config) when
# it can ("API mode"), else installs the pure-Python binding that dlopens
# libvips at run time ("ABI mode"); both need libvips and cffi on the target.
PYTHON_PYVIPS_DEPENDENCIES = host-python-cffi host-python-pkgconfig libvips

$(eval $(python-package))

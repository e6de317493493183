"""Tests of the appliance's static parts: systemd unit, sysusers, udev rules, Buildroot tree."""

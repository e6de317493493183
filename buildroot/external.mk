include $(sort $(wildcard $(BR2_EXTERNAL_WSD_SCAN_PATH)/package/*/*.mk))

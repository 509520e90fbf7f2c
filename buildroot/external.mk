include $(sort $(wildcard $(BR2_EXTERNAL_SPEAKERBOX_PATH)/package/*/*.mk))

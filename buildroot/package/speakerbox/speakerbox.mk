################################################################################
#
# speakerbox
#
################################################################################

# Built from this checkout: the external tree sits inside the source tree.
SPEAKERBOX_VERSION = local
SPEAKERBOX_SITE = $(BR2_EXTERNAL_SPEAKERBOX_PATH)/..
SPEAKERBOX_SITE_METHOD = local
SPEAKERBOX_LICENSE = proprietary
SPEAKERBOX_GOMOD = github.com/speakerbox/speakerbox
SPEAKERBOX_BUILD_TARGETS = cmd/speakerbox
SPEAKERBOX_LDFLAGS = -s -w -X main.version=$(SPEAKERBOX_VERSION)
SPEAKERBOX_GO_ENV = CGO_ENABLED=0

define SPEAKERBOX_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(BR2_EXTERNAL_SPEAKERBOX_PATH)/board/speakerbox/speakerbox.service \
		$(TARGET_DIR)/usr/lib/systemd/system/speakerbox.service
endef

$(eval $(golang-package))

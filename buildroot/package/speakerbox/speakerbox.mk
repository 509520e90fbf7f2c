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

# The unit is written for a Raspberry Pi OS install (/usr/local/bin); the
# golang-package infrastructure installs the binary in /usr/bin.
define SPEAKERBOX_INSTALL_INIT_SYSTEMD
	sed 's#/usr/local/bin/speakerbox#/usr/bin/speakerbox#g' \
		$(BR2_EXTERNAL_SPEAKERBOX_PATH)/board/speakerbox/speakerbox.service > $(@D)/speakerbox.service
	$(INSTALL) -D -m 0644 $(@D)/speakerbox.service \
		$(TARGET_DIR)/usr/lib/systemd/system/speakerbox.service
endef

$(eval $(golang-package))

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

ifeq ($(BR2_PACKAGE_SPEAKERBOX_PREBUILT),y)

# The binaries of "make cross", named for the Go architecture.
ifeq ($(BR2_aarch64),y)
SPEAKERBOX_PREBUILT_ARCH = arm64
else ifeq ($(BR2_ARM_CPU_ARMV6),y)
SPEAKERBOX_PREBUILT_ARCH = armv6
else ifeq ($(BR2_ARM_CPU_ARMV7A),y)
SPEAKERBOX_PREBUILT_ARCH = armv7
else ifeq ($(BR2_x86_64),y)
SPEAKERBOX_PREBUILT_ARCH = amd64
endif

SPEAKERBOX_PREBUILT_BIN = $(call qstrip,$(BR2_PACKAGE_SPEAKERBOX_PREBUILT_PATH))
ifeq ($(SPEAKERBOX_PREBUILT_BIN),)
SPEAKERBOX_PREBUILT_BIN = $(BR2_EXTERNAL_SPEAKERBOX_PATH)/../dist/speakerbox-linux-$(SPEAKERBOX_PREBUILT_ARCH)
endif

define SPEAKERBOX_INSTALL_TARGET_CMDS
	test -n "$(SPEAKERBOX_PREBUILT_ARCH)" || { echo "speakerbox: no prebuilt binary for this architecture"; exit 1; }
	test -x $(SPEAKERBOX_PREBUILT_BIN) || { echo "speakerbox: $(SPEAKERBOX_PREBUILT_BIN) missing: run make cross"; exit 1; }
	$(INSTALL) -D -m 0755 $(SPEAKERBOX_PREBUILT_BIN) $(TARGET_DIR)/usr/bin/speakerbox
endef

else # built from source

SPEAKERBOX_GOMOD = github.com/speakerbox/speakerbox
SPEAKERBOX_BUILD_TARGETS = cmd/speakerbox
# The build time (post-build.sh writes the same to etc/speakerbox/build-time):
# the speaker never trusts a clock before it.
SPEAKERBOX_LDFLAGS = -s -w -X main.version=$(SPEAKERBOX_VERSION) \
	-X main.buildTime=$(or $(SOURCE_DATE_EPOCH),$(shell date -u +%s))
# cgo-free, always (the project's rule; Buildroot enables cgo when the
# toolchain can). A local site is not vendored at download time, so the
# modules come from a filled module cache, never from the network.
SPEAKERBOX_GOMODCACHE = $(call qstrip,$(BR2_PACKAGE_SPEAKERBOX_GOMODCACHE))
SPEAKERBOX_GO_ENV = \
	CGO_ENABLED=0 \
	GOFLAGS=-mod=mod \
	GOPROXY=off \
	GOMODCACHE=$(or $(SPEAKERBOX_GOMODCACHE),$(HOME)/go/pkg/mod)

endif

# The unit is written for a Raspberry Pi OS install (/usr/local/bin); the
# package installs the binary in /usr/bin.
define SPEAKERBOX_INSTALL_INIT_SYSTEMD
	sed 's#/usr/local/bin/speakerbox#/usr/bin/speakerbox#g' \
		$(BR2_EXTERNAL_SPEAKERBOX_PATH)/board/speakerbox/speakerbox.service > $(@D)/speakerbox.service
	$(INSTALL) -D -m 0644 $(@D)/speakerbox.service \
		$(TARGET_DIR)/usr/lib/systemd/system/speakerbox.service
endef

ifeq ($(BR2_PACKAGE_SPEAKERBOX_PREBUILT),y)
$(eval $(generic-package))
else
$(eval $(golang-package))
endif

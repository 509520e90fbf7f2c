# Speakerbox build. Every binary is CGO_ENABLED=0 and static.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# The build time is the last commit's (reproducible); the clock is never
# trusted before it (see speakerbox timesync).
BUILDTIME ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.buildTime=$(BUILDTIME)
BUILD    := CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)"
DIST     := dist
FUZZTIME ?= 10s
# Options for `make run`; the speaker runs on its built-in defaults otherwise.
RUNARGS  ?=

.PHONY: all build cross test unit fuzz bench lint run clean hil bench-audio image images

all: build

build:
	$(BUILD) -o speakerbox ./cmd/speakerbox

# The four release binaries: Pi Zero/1 (armv6), Pi 2 (armv7), Pi 3/4/5 (arm64), amd64.
cross: $(DIST)/speakerbox-linux-armv6 $(DIST)/speakerbox-linux-armv7 $(DIST)/speakerbox-linux-arm64 $(DIST)/speakerbox-linux-amd64

$(DIST)/speakerbox-linux-armv6: FORCE
	GOOS=linux GOARCH=arm GOARM=6 $(BUILD) -o $@ ./cmd/speakerbox
$(DIST)/speakerbox-linux-armv7: FORCE
	GOOS=linux GOARCH=arm GOARM=7 $(BUILD) -o $@ ./cmd/speakerbox
$(DIST)/speakerbox-linux-arm64: FORCE
	GOOS=linux GOARCH=arm64 $(BUILD) -o $@ ./cmd/speakerbox
$(DIST)/speakerbox-linux-amd64: FORCE
	GOOS=linux GOARCH=amd64 $(BUILD) -o $@ ./cmd/speakerbox
FORCE:

# Every test: unit tests (with the race detector), a short run of every fuzz
# target, and the real-kernel suite.
test: unit fuzz hil

unit:
	$(GO) test -race -count=1 ./...

# Runs each Fuzz* function found in the tree for FUZZTIME (see .ci/fuzz.sh).
fuzz:
	GO=$(GO) bash .ci/fuzz.sh $(FUZZTIME)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags realkernel ./audio/alsasink/
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# Runs the speaker on its defaults (or RUNARGS) on this machine.
run: build
	./speakerbox run $(RUNARGS)

clean:
	rm -rf speakerbox $(DIST)

# --- image: SD card images -------------------------------------------------
# `make image BOARD=pi3` (or pi2, pi0) writes dist/speakerbox-<board>.img
# (and .img.xz) from Debian's Raspberry Pi packages, the overlay in
# buildroot/board/speakerbox and the binaries of `make cross` (README "Flash
# an SD card"). Packages are cached in .cache/image.
BOARD ?= pi3
IMAGEFLAGS ?= -xz
image: cross
	$(GO) run ./cmd/speakerbox-image -board $(BOARD) $(IMAGEFLAGS)

# The three cards `make hil` boots (without .xz: they are only booted).
images: cross
	$(GO) run ./cmd/speakerbox-image -board pi3
	$(GO) run ./cmd/speakerbox-image -board pi2
	$(GO) run ./cmd/speakerbox-image -board pi0

# --- hil: real-kernel tests --------------------------------------------------
# Boots Debian's own kernels under QEMU (TCG, never KVM) with the cross-built
# binaries and checks ALSA, the GPIO relay and the appliance boot against the
# kernel's drivers (README "Real-kernel tests"). Installs its Debian packages
# when missing; kernels are cached in .cache/hil. Options go in HILFLAGS,
# e.g. make hil HILFLAGS='-only raspi3b'.
HILFLAGS ?=
hil: cross images
	$(GO) run ./cmd/speakerbox-hil $(HILFLAGS)

# audio: the audio pipeline's numbers in one run (README "Performance"): our
# Vorbis decoder against libvorbis's oggdec on the same files, the cost of
# the stages after the decoder, allocations in steady playback, the heap
# over 100 tracks, then ring, conversion, gain and decryption throughput.
# `make bench` runs these too, among everything else.
bench-audio:
	$(GO) test -run '^$$' -bench 'Audio' -benchtime 7x ./audio/player
	$(GO) test -run '^$$' -bench . -benchmem ./audio/ring ./audio/convert ./audio/gain ./audio/decrypt

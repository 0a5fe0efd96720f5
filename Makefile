# ganstudio: few targets. `make demo` trains and generates on the built-in default; `make test` runs the tests.
PYTHON ?= python3
MINUTES ?= 5
RUN ?= runs/demo

.PHONY: install demo test test-deps lint bench serve

install:
	@if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist fonts-noto-color-emoji unicode-data >/dev/null; \
	elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then \
		sudo apt-get update -qq && sudo apt-get install -y -qq dataset-fashion-mnist fonts-noto-color-emoji unicode-data >/dev/null; \
	else echo "note: install the Debian packages dataset-fashion-mnist, fonts-noto-color-emoji and unicode-data for the built-in datasets"; fi
	$(PYTHON) -m pip install -q torch==2.13.0
	$(PYTHON) -m pip install -q -e ".[dev,text,serve,provenance]"
	@$(PYTHON) -c "from ganstudio.data import iconify; iconify.fetch_all()" \
		|| echo "note: the colour emoji corpus (npm pack @iconify-json/...) could not be fetched; --data emoji needs it"

# the demo trains what converges fastest, labels only, as `python -m bench.quality` measures it: no text (no
# caption embedding or label-prior fit before the clock starts), attributes always dropped (given
# as conditions, D learnt to check them and won: BENCHMARKS.md)
demo: install
	ganstudio train --data fashion-mnist --preset cpu-32 --text-encoder none --set train.attribute_drop=1.0 \
		--minutes $(MINUTES) --out $(RUN)
	ganstudio generate --model $(RUN) --per-class 8 --seed 0 --out $(RUN)/grid --overwrite
	@echo "class x seed grid of your model: $(RUN)/grid/grid.png (bundled model: ganstudio generate --per-class 8)"

# the browser test drives Debian's chromium (never a browser download); metadata tests read with exiftool
test-deps:
	@if command -v chromium >/dev/null 2>&1 && command -v exiftool >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then apt-get install -y -qq chromium libimage-exiftool-perl >/dev/null; \
	elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then sudo apt-get install -y -qq chromium libimage-exiftool-perl >/dev/null; \
	else echo "note: install Debian's chromium and libimage-exiftool-perl (the browser and exiftool tests are skipped without them)"; fi

test: install test-deps lint
	$(PYTHON) -m pytest -q

lint:
	$(PYTHON) -m ruff check src tests bench scripts && $(PYTHON) -m ruff format --check src tests bench scripts

bench:
	$(PYTHON) -m bench.speed

serve: install
	ganstudio serve

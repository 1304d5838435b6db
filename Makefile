# The two commands of the README.
.PHONY: setup demo test lint

setup:
	bash scripts/setup.sh

# Main job: measure the HURRICANE (layer, op) latency table on this CPU with ONNX Runtime.
demo: setup
	hwnas profile --target onnxruntime --space hurricane

# Lint, then the whole test suite (slow tests included).
test: setup lint
	python3 -m pytest -q

lint:
	ruff check .
	ruff format --check .

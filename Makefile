# The two commands of the README.
.PHONY: setup demo test lint

setup:
	bash scripts/setup.sh

# Main job: measure HURRICANE on this CPU (64 workloads, XGBoost fills the rest),
# then find raspi4's Pareto front from pixel3's with 10 raspi4 samples (NAS-Bench-201).
demo: setup
	hwnas profile --target onnxruntime --space hurricane --measure 64 --fill predict
	hwnas search --strategy proxy --space nb201 --proxy nb201/pixel3 --target nb201/raspi4 \
		--samples 10 --out runs/demo

# Lint, then the whole test suite (slow tests included).
test: setup lint
	python3 -m pytest -q

lint:
	ruff check .
	ruff format --check .

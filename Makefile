# The two commands of the README.
.PHONY: setup demo test test-arm lint

setup:
	bash scripts/setup.sh

# Main job: HURRICANE on this CPU with ONNX Runtime: measure, generate the space,
# two-stage one-shot search on Fashion-MNIST, measure + retrain + export the winner.
demo: setup
	hwnas search --strategy hurricane --target onnxruntime --latency-ms 15% --out runs/demo

# Lint, then the whole test suite (slow tests included).
test: setup lint
	bash scripts/run_tests.sh

# tvm-arm on an emulated AArch64 board (qemu-aarch64): tracker, board, contract, outputs vs torch.
test-arm: setup
	python3 -m pytest -q tests/test_emulated_board.py

lint:
	ruff check .
	ruff format --check .
	lint-imports --no-cache

#!/usr/bin/env bash
# Quick start: set up, build, train the MLP on Fashion-MNIST (5 epochs) and print
# its test accuracy and confusion matrix.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build
./build/apps/zoo-train mlp --epochs 5 --out runs/mlp
./build/apps/zoo-eval mlp --checkpoint runs/mlp/model.safetensors

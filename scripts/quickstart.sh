#!/usr/bin/env bash
# Quick start: set up, build, train the MLP on Fashion-MNIST (5 epochs) and print
# its test accuracy and confusion matrix; then train the GAN for 500 steps (about a
# minute and a half on 2 cores) and write a grid of its samples to samples.png; then
# draw 5 images of each of the 10 classes from the shipped diffusion model into
# diffusion.png (one class per column; DDIM, 50 steps, guided: seconds) and 300
# characters from the shipped transformer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build
./build/apps/zoo-train mlp --epochs 5 --out runs/mlp
./build/apps/zoo-eval mlp --checkpoint runs/mlp/model.safetensors
./build/apps/zoo-train gan --steps 500 --sample-every 250 --out runs/gan-quick
./build/apps/zoo-sample gan --checkpoint runs/gan-quick/model.safetensors --n 64 --out samples.png
./build/apps/zoo-sample diffusion --class all --n 50 --cols 10 --out diffusion.png
./build/apps/zoo-sample transformer --n 300 --seed 1

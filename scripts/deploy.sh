#!/usr/bin/env bash
# `make deploy`: sam build, then sam deploy --guided, with the project's own aws-sam-cli
# (.sam-venv, installed on first use; scripts/sam_venv.sh). samconfig.toml holds the build and
# deploy defaults; the guided run asks for the parameters and offers to save the answers there.
# Extra arguments go to sam deploy (e.g. `make deploy ARGS="--no-confirm-changeset"`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/sam_venv.sh
.sam-venv/bin/sam build --template template.yaml
.sam-venv/bin/sam deploy --guided "$@"

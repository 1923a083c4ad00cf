#!/usr/bin/env bash
# `make validate`: check the layer's lock is current and audit it (scripts/check_lock.py), build the
# docs site strictly (mkdocs.yml: a broken link or anchor fails it),
# lint the template, validate it the way SAM does, check the SnapStart wiring
# and each database mode through the real transforms (scripts/check_snapstart.py,
# scripts/check_database_modes.py), build it, prove the zipped build
# imports from bytecode with no connection open (scripts/check_bytecode.py), and smoke-test the
# built functions the way Lambda loads them (scripts/smoke_built.py). Needs no AWS account and
# no Docker: credentials are dummies, AWS is moto, the database is the test PostgreSQL.
#
# aws-sam-cli lives in its own venv (.sam-venv, scripts/sam_venv.sh): it pins its own boto3 and cfn-lint.
set -euo pipefail
cd "$(dirname "$0")/.."

# Offline: dummy credentials and a region; no telemetry.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}"
export SAM_CLI_TELEMETRY=0

started=$SECONDS
stage() { printf '\n==> %s (%ds)\n' "$1" "$((SECONDS - started))"; }

stage "the layer's lock is current (shared/requirements.txt from .in), and pip-audit where its service answers"
.venv/bin/python scripts/check_lock.py --audit

stage "docs: mkdocs build --strict (a broken link or anchor fails; the CLI reference is generated)"
# First, as it takes seconds and needs only .venv. Into a temporary folder: the check is that it
# builds; the site itself is not kept.
docs_site="$(mktemp -d)"
trap 'rm -rf "$docs_site"' EXIT
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir "$docs_site"

stage "aws-sam-cli in .sam-venv"
source scripts/sam_venv.sh  # python3.12 on PATH, aws-sam-cli installed once
.sam-venv/bin/sam --version

stage "cfn-lint template.yaml"
.venv/bin/cfn-lint template.yaml

stage "sam validate (SAM's own translator; cfn-lint above already did what --lint does)"
# `sam validate` calls IAM only to expand managed-policy names; the template uses explicit
# roles, so it runs offline with the dummy credentials above. --language-extensions: expand
# AWS::LanguageExtensions locally first, as CloudFormation does before the SAM transform.
.sam-venv/bin/sam validate --language-extensions --template template.yaml

stage "SnapStart parameter through both transforms, off and on"
.sam-venv/bin/python scripts/check_snapstart.py

stage "database modes through both transforms: existing and create, proxy off and on"
# cfn-lint above already walked every combination of the template's conditions; this is SAM's
# own translation of each mode, and the wiring it generates (scripts/check_database_modes.py).
.sam-venv/bin/python scripts/check_database_modes.py

# Once for every mode: the code and the layer do not change with the database mode.
stage "sam build (no Docker; dependencies from PyPI, cached by source and requirements hash)"
.sam-venv/bin/sam build --cached --parallel --template template.yaml

stage "the layer ships the package alone: no operator tools (cli/, local/)"
layer=.aws-sam/build/SharedLayer/python
test -f "$layer/charlee_collector/handlers/collector.py" || { echo "the layer has no charlee_collector.handlers"; exit 1; }
# The RDS CA bundle TLS to RDS and Aurora verifies against (store/tls.py): package data, not code.
test -f "$layer/charlee_collector/store/certificates/rds-global-bundle.pem" || { echo "the layer has no RDS CA bundle"; exit 1; }
shipped_tools=$(find "$layer" -maxdepth 2 \( -name charlee_collector_tools -o -path "$layer/charlee_collector/cli" -o -path "$layer/charlee_collector/local" \))
if [[ -n "$shipped_tools" ]]; then echo "the layer ships operator tools: $shipped_tools"; exit 1; fi

stage "boto3 as the Lambda runtime provides it (.aws-sam/runtime-provided)"
# sam build only rewrites .aws-sam/build, so this is installed once.
if [[ ! -d .aws-sam/runtime-provided/boto3 ]]; then
    .venv/bin/python -m pip install -q --target .aws-sam/runtime-provided boto3
fi

stage "bytecode: the zipped, read-only build imports without compiling, no connection open"
.venv/bin/python scripts/check_bytecode.py --python "$PY312"

stage "smoke test of the built functions"
.venv/bin/python scripts/smoke_built.py

stage "validate: all passed"

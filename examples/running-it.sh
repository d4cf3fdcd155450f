#!/usr/bin/env bash
# The README's "Running it", as a script: every command of that section, in this order. The
# README's block is generated from the lines between the two "README" markers below
# (`python tools/running_it.py`; tests/test_running_it.py fails when they differ, and runs
# this script). Run it from the repository's root after `make demo`:
#
#     examples/running-it.sh
#
# A control plane and two EMULATED hosts (one AMD SEV-SNP, one Intel TDX) on this machine,
# over TLS on loopback (a development CA: `serve --tls auto`). Emulated evidence gives NO hardware protection, and every result says so.
set -euo pipefail
cd "$(dirname "$0")/.."

# Stop what this script started (the control plane, the hosts) however it ends, and remove
# its temporary directory.
cleanup() {
  status=$?
  for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
  wait || true
  if [ "$status" -ne 0 ] && [ -n "${ELSEWHERE_HOME:-}" ]; then
    for log in "$ELSEWHERE_HOME"/*.log; do [ -f "$log" ] && { echo "== $log"; cat "$log"; }; done
  fi
  [ -n "${ELSEWHERE_HOME:-}" ] && rm -rf "$ELSEWHERE_HOME"
  exit "$status"
}
trap cleanup EXIT
trap "exit 130" INT
trap "exit 143" TERM

# ---- README: begin ----
# Wait until a process's log shows a line (what you would watch for in a second terminal).
wait_for() { until grep -qs "$2" "$1"; do kill -0 "$3" || return; sleep 0.2; done; }

export PATH="$PWD/.venv/bin:$PATH"          # `elsewhere`, as `make demo` installed it
examples=$PWD/examples
export ELSEWHERE_HOME="$(mktemp -d)"        # all state here: control/ is the data directory
cd "$ELSEWHERE_HOME"

# The operator: a tenant, one token per host (each written to a 0600 file, never printed).
elsewhere tenant create acme --token-file acme.token
elsewhere host-token create --name snp-host --token-file snp-host.token
elsewhere host-token create --name tdx-host --token-file tdx-host.token

# The control plane, over TLS from a development CA it makes in control/tls/ (it prints the
# CA's path; every client verifies the server against it). Creating control/emulated-roots/
# tells it to trust the EMULATED roots copied there, re-read when one is added (no restart).
mkdir control/emulated-roots
port=${PORT:-8080}
elsewhere serve --tls auto --port "$port" > serve.log 2>&1 &
wait_for serve.log "Uvicorn running" $!
export ELSEWHERE_CONTROL=https://127.0.0.1:$port ELSEWHERE_CA=$ELSEWHERE_HOME/control/tls/ca.pem

# Host 1, emulated AMD SEV-SNP (Genoa): its platform, its root to the control plane, the agent.
elsewhere emulate snp-root hosts/snp/emulated-snp --generation Genoa
cp hosts/snp/emulated-snp/ark.pem control/emulated-roots/snp-host.pem
elsewhere host --name snp-host --attester emulated-snp --state-dir hosts/snp \
  --token-file snp-host.token > snp-host.log 2>&1 &
wait_for snp-host.log "host_[0-9a-f]" $!     # its id: printed once registered, in any language

# Host 2, emulated Intel TDX: its root, and the collateral (TCB Info, QE Identity, CRLs) its
# quotes are checked against, imported where the control plane looks it up.
elsewhere emulate tdx-root hosts/tdx/emulated-tdx
cp hosts/tdx/emulated-tdx/root.pem control/emulated-roots/tdx-host.pem
elsewhere emulate tdx-collateral hosts/tdx/emulated-tdx -o tdx-collateral.json
elsewhere collateral import tdx-collateral.json --trust-emulated-root hosts/tdx/emulated-tdx/root.pem
elsewhere host --name tdx-host --attester emulated-tdx --state-dir hosts/tdx \
  --token-file tdx-host.token > tdx-host.log 2>&1 &
wait_for tdx-host.log "host_[0-9a-f]" $!

# The tenant: build the example workload; its digest is the SHA-384 of the .wasm.
export ELSEWHERE_TOKEN_FILE=$ELSEWHERE_HOME/acme.token
python "$examples/workloads/build.py" build
digest=$(sha384sum build/secret-greeter.wasm | cut -d' ' -f1)
elsewhere workload upload build/secret-greeter.wasm
printf 'correct horse battery staple' | elsewhere secret put greeting-key
elsewhere set-policy "$examples/policy/demo-emulated.toml"   # allows EMULATED evidence
elsewhere set-risk-budget 5000USD/yr                          # the annual risk you accept

# Two replicas (one per host), each reading the secret; wait until both ended.
elsewhere deploy "$digest" --replicas 2 --secret greeting-key --arg greeting-key \
  --impact 1000USD --wait --json > deployment.json
deployment=$(jq -r .id deployment.json)
elsewhere results "$deployment"
elsewhere deployment list
elsewhere deployment show "$deployment"
elsewhere deployment stop "$deployment"                       # it ended: nothing to stop

# What the control plane and each host printed meanwhile, and the auditor's check of the
# ledger that every decision went into.
cat serve.log snp-host.log tdx-host.log
elsewhere ledger audit
# ---- README: end ----

#!/usr/bin/env bash
# Starts a local `hardhat node`, deploys the system to it with Ignition, runs the demo against it twice
# (the second run finds the deployment and earlier admissions), then stops the node.
set -euo pipefail
cd "$(dirname "$0")/.."

port="${THINGLEDGER_CI_NODE_PORT:-18545}"
export THINGLEDGER_LOCALHOST_URL="http://127.0.0.1:${port}"
# A private address book, so a developer's own localhost deployment is left alone.
export THINGLEDGER_DEPLOYMENT_ID="ci-local-node-$$"
log="$(mktemp)"

# The node's own binary, not `npx`: killing npx's pid left its child node serving (and holding the port)
# after the script ended.
./node_modules/.bin/hardhat node --port "$port" >"$log" 2>&1 &
node_pid=$!
cleanup() {
  kill "$node_pid" 2>/dev/null || true
  rm -rf "deploy/deployments/${THINGLEDGER_DEPLOYMENT_ID}" "$log"
}
trap cleanup EXIT

for _ in $(seq 1 120); do
  if curl -sf -X POST -H 'content-type: application/json' \
    --data '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$THINGLEDGER_LOCALHOST_URL" >/dev/null; then
    break
  fi
  if ! kill -0 "$node_pid" 2>/dev/null; then
    echo "hardhat node exited:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 1
done

npx hardhat deploy --network localhost
npx hardhat deploy --network localhost # again: Ignition's journal makes it a no-op
npx hardhat demo --network localhost
npx hardhat demo --network localhost

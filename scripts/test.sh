#!/usr/bin/env bash
# `npm test`: the ONE test command (README, .ci/run). On a fresh machine it installs or starts what the suite
# talks to, then runs every test:
#   - node_modules from package-lock.json (`npm ci`) when absent or older than the lock;
#   - the real peers of the integration tests, from Debian's packages when absent: redis-server (queue),
#     nginx and haproxy (traffic connectors), PostgreSQL (the real Unleash server of the flag connector),
#     Chromium (the browser the dashboard's page tests drive through playwright-core: test/helpers/browser.ts);
#   - PostgreSQL started when it does not answer, and a test role when TCP logins need a password.
# Redis itself is started by the suite when none answers (test/setup/global-redis.ts).
# Arguments go to vitest: `npm test -- test/unit/config` runs one folder.
# VIGIL_TEST_NO_INSTALL=1: never install packages (fail with the list of what is missing instead).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'test: %s\n' "$*" >&2; }
die() { printf 'test: %s\n' "$*" >&2; exit 1; }

# ---- Node.js and the project's own packages ----
node -e '
  const [maj, min] = process.versions.node.split(".").map(Number);
  if (maj < 20 || (maj === 20 && min < 19)) { console.error(`test: Node.js >= 20.19 is required, this is ${process.version}`); process.exit(1); }
'
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing the pinned dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi

# ---- the real peers, from Debian's packages ----
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
missing=()
have redis-server || missing+=(redis-server)
have nginx || missing+=(nginx)
have haproxy || missing+=(haproxy)
[ -d /usr/lib/postgresql ] || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium) # the path test/helpers/browser.ts launches
if [ ${#missing[@]} -gt 0 ]; then
  if [ "${VIGIL_TEST_NO_INSTALL:-}" = 1 ]; then
    die "missing ${missing[*]}: install them (Debian: apt-get install ${missing[*]}) or unset VIGIL_TEST_NO_INSTALL"
  fi
  if [ "$(id -u)" = 0 ]; then sudo=(); elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo=(sudo -n); else
    die "missing ${missing[*]} and no root to install them: run 'sudo apt-get install ${missing[*]}' once, then npm test again"
  fi
  command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]}: this is not a Debian-like system, install them with its package manager"
  say "installing ${missing[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- PostgreSQL for the real Unleash server ----
as_postgres() { if [ "$(id -u)" = 0 ]; then su postgres -c "$1"; else sudo -n -u postgres sh -c "$1"; fi; }
if [ -z "${VIGIL_TEST_PG_URL:-}" ]; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    say "starting PostgreSQL"
    cluster="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$cluster" ] || die "PostgreSQL is installed but has no cluster under /etc/postgresql: create one (pg_createcluster) or set VIGIL_TEST_PG_URL"
    if [ "$(id -u)" = 0 ]; then pg_ctlcluster --skip-systemctl-redirect "$cluster" main start || true
    else sudo -n pg_ctlcluster --skip-systemctl-redirect "$cluster" main start || true; fi
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && break; sleep 1; done
    pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || die "PostgreSQL did not start on 127.0.0.1:5432: set VIGIL_TEST_PG_URL to one that runs"
  fi
  if ! psql -h 127.0.0.1 -U postgres -w -d postgres -c 'select 1' >/dev/null 2>&1; then
    # A fresh Debian cluster asks TCP clients for a password: use a test role of our own (the suite creates
    # and drops one database per run with it), never touching the postgres role's password.
    say "PostgreSQL asks for a password: using the role vigil_test"
    as_postgres "psql -q -v ON_ERROR_STOP=1 -c \"DO \\\$\\\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vigil_test') THEN CREATE ROLE vigil_test LOGIN CREATEDB PASSWORD 'vigil-test'; END IF; END \\\$\\\$\"" >/dev/null \
      || die "could not create the PostgreSQL role vigil_test: set VIGIL_TEST_PG_URL to a role that may CREATE DATABASE"
    export VIGIL_TEST_PG_URL="postgres://vigil_test:vigil-test@127.0.0.1:5432/postgres"
  fi
fi
# Every peer is in place now: a real-peer test that cannot reach its peer fails instead of skipping.
export VIGIL_TEST_REQUIRE_PEERS=1

exec node_modules/.bin/vitest run "$@"

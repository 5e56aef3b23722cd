# Shared helpers for scripts/run, scripts/test and scripts/bench. Source, don't run.

# The newest PostgreSQL server programs on this machine, or empty.
pg_bindir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return; fi
  done
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else return 1
  fi
}

# ensure_packages CHECK_COMMAND:PACKAGE ... — installs the Debian packages whose check fails.
ensure_packages() {
  local missing=() pair check package
  for pair in "$@"; do
    check=${pair%%:*}; package=${pair#*:}
    if ! eval "$check" >/dev/null 2>&1; then missing+=("$package"); fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "==> installing ${missing[*]} (apt)" >&2
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null 2>&1; then
    as_root apt-get update -q >/dev/null 2>&1 || true
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null || {
      echo "error: could not install ${missing[*]}; install them with: apt-get install ${missing[*]}" >&2
      return 1
    }
  fi
}

# A TCP port nobody listens on now (bash's /dev/tcp, no extra tools).
free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$(( (RANDOM % 20000) + 30000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
  done
  echo "error: no free port found" >&2; return 1
}

# start_postgres WORKDIR [extra server options] — a throwaway cluster on a Unix socket in
# WORKDIR/pg, as the postgres user when run as root. Sets PGBIN, PG_URL; stop_postgres WORKDIR.
start_postgres() {
  local work=$1; shift
  PGBIN=$(pg_bindir)
  mkdir -p "$work/pg"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    chown postgres: "$work/pg"
  fi
  as_pg_user "$PGBIN/initdb" -D "$work/pg/data" -U postgres -A trust -E UTF8 --lc-collate=C --lc-ctype=C.UTF-8 --no-sync --no-instructions >/dev/null
  as_pg_user "$PGBIN/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w -o "-c max_connections=500 -c listen_addresses= -k $work/pg $*" start >/dev/null
  PG_URL="postgres://postgres@/postgres?host=$work/pg"
}

stop_postgres() {
  [ -f "$1/pg/data/postmaster.pid" ] && as_pg_user "$PGBIN/pg_ctl" -D "$1/pg/data" -m immediate -w stop >/dev/null 2>&1
  return 0
}

as_pg_user() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# json_field a.b < JSON — prints one field (Node.js).
json_field() {
  node -e 'let v = JSON.parse(require("fs").readFileSync(0, "utf8")); for (const k of process.argv[1].split(".")) v = v[k]; console.log(v)' "$1"
}

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

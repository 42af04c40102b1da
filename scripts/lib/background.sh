# Sourced by scripts/test-all.sh: builds that only later steps need, run in the background at the
# lowest CPU priority while the suites run. The suites leave most of the two cores idle (waiting on
# the apiserver's polls, timers and loopback servers), so on a cold machine the kube-apiserver and
# image builds cost little wall time; warm, each finishes in seconds. Each job runs in its own
# session, so a run that ends early takes the whole job (go build, podman) down with it.
#
#   background_start <name> <log> <command…>   starts it under nice 19
#   background_await <name>                      its exit status; on failure the log's tail on stderr
#   background_stop                              kills every job still running (for an EXIT trap)
declare -A background_pid=() background_log=()

background_start() {
  local name="$1" log="$2"
  shift 2
  background_log[$name]="$log"
  setsid --wait nice -n 19 "$@" >"$log" 2>&1 </dev/null &
  background_pid[$name]=$!
}

background_await() {
  local name="$1" rc=0
  wait "${background_pid[$name]}" || rc=$?
  unset 'background_pid[$name]'
  if ((rc != 0)); then
    printf 'background %s failed with exit code %d; the end of its log (%s):\n' "$name" "$rc" "${background_log[$name]}" >&2
    tail -n 40 "${background_log[$name]}" | sed 's/^/  | /' >&2
  fi
  return "$rc"
}

background_stop() {
  local pid
  for pid in "${background_pid[@]}"; do
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM -- "-$pid" 2>/dev/null || pkill -TERM -P "$pid" 2>/dev/null || true
  done
  return 0
}

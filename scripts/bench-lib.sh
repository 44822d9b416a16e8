# Shared by scripts/bench-refresh.sh and scripts/bench.sh (sourced, not run): a synestra sandbox
# for the run, the cnpgops binary, and timed refreshes (cnpgops and direct pipelines) between the
# sandbox's real prod and dev PostgreSQL servers. Every timing prints seconds on stdout.
#   bench_up DIR            sandbox with the synestra world in DIR (stopped on exit)
#   bench_build             sets $cnpgops (PROFILE=release|debug, or CNPGOPS=path as is)
#   bench_load SCALE        pgbench -i -s SCALE into prod
#   bench_cnpgops NAME ARGS time `cnpgops ARGS` (-o json): $dir/NAME.{rss,cpu,first}
#   bench_naive | bench_dir | bench_copy   the direct pipelines
#   bench_phases NAME WALL  where a timed cnpgops run's WALL seconds went (from its run report)
#   bench_method SCALE      "scale bytes dump_seconds recovery_seconds" appended to $dir/method.txt
#   bench_fit               "x_bytes y" lines -> "a b" of y = a + b * GiB (least squares)
#   bench_crossover         from $dir/method.txt: "da db ra rb" and where the lines meet
# Needs bc, /usr/bin/time (Debian `time`), pgbench and psql (scripts/setup.sh installs them).

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }

bench_up() { # DIR
  dir=$1
  scripts/sandbox.sh down "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir" # a fresh world: an earlier run's state would be read back with stale Pod addresses
  # The synestra world with room for scale 200 (2.9 GiB): a single-transaction restore needs
  # 1.5x the source free on dev (the old contents stay until the COMMIT; the preflight refuses
  # less), more than the scenario's 5Gi.
  sed 's/storage: {size: 5Gi}/storage: {size: 20Gi}/' sandbox/scenarios/synestra.yaml >"$dir.scenario.yaml"
  scripts/sandbox.sh up "$dir" "$dir.scenario.yaml" >/dev/null
  trap 'scripts/sandbox.sh down "$dir" >/dev/null' EXIT
  export KUBECONFIG=$dir/kubeconfig CNPGOPS_STATE_DIR=$dir/runs
  kubectl -n databases wait cluster --all --for=condition=Ready --timeout=600s >/dev/null
  owner=$(kubectl -n databases get secret synestra-io-initdb-secret -o jsonpath='{.data.username}' | base64 -d)
  export PGPASSWORD
  PGPASSWORD=$(kubectl -n databases get secret synestra-io-initdb-secret -o jsonpath='{.data.password}' | base64 -d)
  src=$(bench_conn synestra-io-cnpg)
  dst=$(bench_conn synestra-io-dev-cnpg)
}

bench_conn() { # CLUSTER -> libpq connection string to its primary (what `<cluster>-rw` routes to)
  local primary ip
  primary=$(kubectl -n databases get cluster "$1" -o jsonpath='{.status.currentPrimary}')
  ip=$(kubectl -n databases get pod "$primary" -o jsonpath='{.status.podIP}')
  echo "host=$ip port=5432 user=$owner dbname=synestra_io"
}

bench_build() {
  local profile=${PROFILE:-release} # PROFILE=debug skips the long release build
  cnpgops=${CNPGOPS:-}
  if [ -z "$cnpgops" ]; then
    if [ "$profile" = release ]; then cargo build -q --release -p cnpgops; else cargo build -q -p cnpgops; fi
    cnpgops=${CARGO_TARGET_DIR:-target}/$profile/cnpgops
  fi
}

bench_load() { # SCALE
  pgbench -q -i -s "$1" "$src" 2>&1 | tail -1 >&2
  psql -X -q -At "$src" -c "select pg_size_pretty(pg_database_size(current_database()))"
}

reset_dev() { psql -X -q "$dst" -c "DROP OWNED BY CURRENT_USER CASCADE; CREATE SCHEMA IF NOT EXISTS public;" >/dev/null; }

# Runs `cnpgops ARGS -o json` under /usr/bin/time; prints the wall seconds. Leaves peak RSS
# (KiB) in $dir/NAME.rss, user+system CPU seconds in $dir/NAME.cpu, and the seconds from the
# start to the first `step_started` JSON event (line arrival time) in $dir/NAME.first.
bench_cnpgops() { # NAME ARGS...
  local name=$1 t0 first
  shift
  reset_dev
  t0=$(now)
  if ! /usr/bin/time -v -o "$dir/$name.time" "$cnpgops" "$@" -o json 2>"$dir/$name.err" |
    while IFS= read -r line; do printf '%s %s\n' "$(now)" "$line"; done >"$dir/$name.events"; then
    tail -20 "$dir/$name.err" >&2
    echo "cnpgops $* failed" >&2
    exit 1
  fi
  secs "$t0" "$(now)"
  awk -F': ' '/Maximum resident set size/ {print $2}' "$dir/$name.time" >"$dir/$name.rss"
  awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {print u + s}' "$dir/$name.time" >"$dir/$name.cpu"
  first=$(grep -m1 '"event":"step_started"' "$dir/$name.events" | cut -d' ' -f1)
  secs "$t0" "$first" >"$dir/$name.first"
}

# Where `bench_cnpgops NAME`'s WALL seconds went, one "phase<TAB>seconds" line each, from its
# run report (the last JSON line): checks (and the method estimate), app stop, the refresh
# Job's phases (job: ..., from the dump_restore step's `phases` output: ANALYZE is one, in the
# restore's transaction), the refresh step outside its Job (snapshot export, Job creation, the
# source's inventory while the Job runs), verify, the record, app start, and the rest (process
# start, connection, lock, checkpoints) as WALL minus the steps.
bench_phases() { # NAME WALL
  tail -1 "$dir/$1.events" | cut -d' ' -f2- | jq -r --argjson wall "$2" '
    .report as $r
    | ($r.steps | map({(.id): ((.duration_ms // 0) / 1000)}) | add) as $s
    | ([$r.steps[] | select(.id == "dump_restore") | .outputs.phases // []] | add // []) as $ph
    | (($ph | map(.ms) | add // 0) / 1000) as $job
    | [["checks (clusters, preflight, estimate)", $s.source + $s.target + $s.preflight + ($s.estimate // 0)],
       ["app stop (auto-sync, scale to 0, sessions)", $s.pause_sync + $s.stop_app + $s.terminate]]
      + ($ph | map(["job: " + .phase, .ms / 1000]))
      + [["refresh step outside its Job", $s.dump_restore - $job],
         ["verify", $s.verify],
         ["record (annotate, event)", $s.annotate + $s.event],
         ["app start (scale back, auto-sync)", $s.start_app + $s.resume_sync],
         ["rest (process, connection, lock, checkpoints)", $wall - ($s | to_entries | map(.value) | add)]]
    | .[] | "\(.[0])\t\(.[1] // 0)"'
}

bench_bytes() { psql -X -q -At "$src" -c "select pg_database_size(current_database())"; }

# Loads pgbench SCALE into prod, takes a base backup of it (so a recovery restores the data
# rather than replaying the load's WAL: the usual case after a nightly backup), then times
# refresh-dev by dump (the default atomic mode) and by recovery, each the whole command.
bench_method() { # SCALE
  bench_load "$1" >/dev/null
  "$cnpgops" backup synestra-io --wait >"$dir/backup-$1.out" 2>&1 ||
    { tail -5 "$dir/backup-$1.out" >&2; echo "cnpgops backup failed" >&2; exit 1; }
  local bytes d r
  bytes=$(bench_bytes)
  d=$(bench_cnpgops "method-dump-$1" refresh-dev synestra-io --yes)
  r=$(bench_cnpgops "method-recovery-$1" refresh-dev synestra-io --yes --method recovery)
  dst=$(bench_conn synestra-io-dev-cnpg) # the recreated dev Cluster's address
  echo "$1 $bytes $d $r" >>"$dir/method.txt"
}

bench_fit() {
  awk '{ x = $1 / 1073741824; n++; sx += x; sy += $2; sxx += x * x; sxy += x * $2 }
    END { d = n * sxx - sx * sx; if (n < 2 || d == 0) { print "n/a n/a"; exit }
          b = (n * sxy - sx * sy) / d; printf "%.3f %.3f\n", (sy - b * sx) / n, b }'
}

bench_crossover() {
  local da db ra rb
  read -r da db < <(awk '{print $2, $3}' "$dir/method.txt" | bench_fit)
  read -r ra rb < <(awk '{print $2, $4}' "$dir/method.txt" | bench_fit)
  echo "$da $db $ra $rb"
  if [ "$da" = n/a ] || [ "$ra" = n/a ]; then echo "n/a (needs two scales)"; return; fi
  awk -v da="$da" -v db="$db" -v ra="$ra" -v rb="$rb" 'BEGIN {
    if (db == rb) { print "none (parallel lines)"; exit }
    x = (ra - da) / (db - rb)
    if (x <= 0) print "none at a positive size (" ((ra < da) ? "recovery" : "dump") " faster at every size)"
    else printf "%.2f GiB (%s faster above it)\n", x, (rb < db) ? "recovery" : "dump" }'
}

bench_naive() {
  reset_dev
  local t0
  t0=$(now)
  pg_dump -Fc "$src" | pg_restore --clean --if-exists --no-owner --no-privileges -d "$dst"
  secs "$t0" "$(now)"
}

bench_dir() {
  reset_dev
  rm -rf "$dir/dump"
  local t0
  t0=$(now)
  pg_dump -Fd -j2 -f "$dir/dump" "$src"
  pg_restore -Fd -j2 --clean --if-exists --no-owner --no-privileges -d "$dst" "$dir/dump"
  secs "$t0" "$(now)"
}

# Raw COPY of the pgbench tables into the tables bench_dir just made (emptied first), 4 at once.
bench_copy() {
  local t0 t tables="pgbench_accounts pgbench_branches pgbench_history pgbench_tellers"
  psql -X -q "$dst" -c "TRUNCATE $(echo $tables | tr ' ' ',')"
  t0=$(now)
  for t in $tables; do
    psql -X -q "$src" -c "COPY $t TO STDOUT" | psql -X -q "$dst" -c "COPY $t FROM STDIN" &
  done
  wait
  secs "$t0" "$(now)"
}

min() { printf '%s\n' "$@" | sort -g | head -1; }
ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }

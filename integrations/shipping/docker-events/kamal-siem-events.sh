#!/bin/sh
# kamal-siem Docker events sidecar, shared by every shipper in integrations/shipping/.
#
# Runs in a small container with the Docker CLI (image `docker:cli`) and the host's Docker socket,
# as a Kamal accessory on every host (docker-events/deploy.yml). It does two things:
#
# 1. Appends the daemon's events, one JSON object a line as `docker events --format '{{json .}}'`
#    prints them (the format kamal-siem's docker parser reads), to
#    $KAMAL_SIEM_LOG_DIR/docker-events.jsonl. It rotates the file itself (rename to .1 .. .N), so no
#    logrotate and no copytruncate race: the shippers read the exact name and finish a renamed file.
#    After a restart it asks the daemon for the events since the last one written (`--since`) and
#    skips those it already has, so a sidecar restart neither loses (within the daemon's short event
#    buffer) nor repeats events.
# 2. Keeps $KAMAL_SIEM_LOG_DIR/kamal-proxy-json.log a symbolic link to the json-file log of the
#    running kamal-proxy container (`docker inspect --format '{{.LogPath}}' kamal-proxy`), updated on
#    every start of kamal-proxy (a new container after `kamal proxy reboot` / `kamal upgrade` has a
#    new log file). The shippers read the link with /var/lib/docker/containers mounted read-only at
#    the same path.
#
# POSIX sh (busybox ash in docker:cli, dash elsewhere); writes nothing but the two files and stderr.

set -u

dir=${KAMAL_SIEM_LOG_DIR:-/var/log/kamal}
events="$dir/docker-events.jsonl"
link="$dir/kamal-proxy-json.log"
max_bytes=${KAMAL_SIEM_EVENTS_MAX_BYTES:-52428800}
keep=${KAMAL_SIEM_EVENTS_KEEP:-5}
proxy=${KAMAL_SIEM_PROXY_CONTAINER:-kamal-proxy}

say() { printf 'kamal-siem-events: %s\n' "$*" >&2; }

# The timeNano of the last event written (the current file, else the last rotated one).
last_nano() {
  for f in "$events" "$events.1"; do
    if [ -s "$f" ]; then
      tail -n 1 "$f" | sed -n 's/.*"timeNano":\([0-9][0-9]*\).*/\1/p'
      return 0
    fi
  done
}

# 1790000000123456789 -> 1790000000.123456789 (`docker events --since` takes Unix seconds).
since_arg() {
  secs=${1%?????????}
  printf '%s.%s' "$secs" "${1#"$secs"}"
}

link_proxy() {
  path=$(docker inspect --format '{{.LogPath}}' "$proxy" 2>/dev/null) || return 0
  [ -n "$path" ] || return 0
  [ "$(readlink "$link" 2>/dev/null)" = "$path" ] && return 0
  ln -s "$path" "$link.new" && mv -f "$link.new" "$link" && say "$link -> $path"
}

rotate() {
  i=$keep
  while [ "$i" -gt 1 ]; do
    j=$((i - 1))
    [ -f "$events.$j" ] && mv -f "$events.$j" "$events.$i"
    i=$j
  done
  mv -f "$events" "$events.1"
}

# Reads `docker events` output: appends each line unchanged, rotates, relinks on a proxy start.
write_events() {
  last=$1
  while IFS= read -r line; do
    nano=$(printf '%s' "$line" | sed -n 's/.*"timeNano":\([0-9][0-9]*\).*/\1/p')
    if [ -n "$last" ] && [ -n "$nano" ] && [ "$nano" -le "$last" ]; then
      continue  # already written before the restart
    fi
    printf '%s\n' "$line" >> "$events"
    case $line in
      *'"Type":"container"'*'"Action":"start"'*'"name":"'"$proxy"'"'*) link_proxy ;;
    esac
    if [ "$(wc -c < "$events")" -ge "$max_bytes" ]; then
      rotate
    fi
  done
}

child=
stop() {
  trap - TERM INT
  [ -n "$child" ] && kill "$child" 2>/dev/null
  exit 0
}
trap stop TERM INT

mkdir -p "$dir"
while :; do
  last=$(last_nano)
  link_proxy
  if [ -n "$last" ]; then
    docker events --format '{{json .}}' --since "$(since_arg "$last")" | write_events "$last" &
  else
    docker events --format '{{json .}}' | write_events "" &
  fi
  child=$!
  wait "$child"
  child=
  say "docker events ended; starting again in 1s"
  sleep 1
done

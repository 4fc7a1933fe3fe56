#!/usr/bin/env bash
# Smoke test of the built image, without a container engine: runs the image's own ENTRYPOINT +
# CMD with `buildah run` (chroot isolation, host network) in sandbox mode on free loopback ports,
# then checks what a user would: /health/ready is 200, a message sent over STARTTLS + AUTH
# (swaks) gets 250 and reaches the sandbox, so do messages over implicit TLS and on the
# alternate submission listener, the
# process runs as uid 1000, and SIGTERM drains and exits 0.
# Then the same image is started once more from a read-only copy of its root filesystem with
# only /tmp and the spool directory writable (tmpfs), as the Helm chart runs it in spool mode
# (DELIVERY_MODE=spool, the image's SPOOL_DIR): it must become ready, answer a message
# `250 … spooled as`, and deliver it to the sandbox; the image must hold compiled JavaScript and
# production dependencies only.
#
# Usage: deploy/ci/smoke.sh [image]      (default localhost/cakemail-smtp-gateway:ci)
# Needs: buildah, swaks, curl, node (to read the image config and pick free ports), util-linux.
set -euo pipefail

IMAGE=${1:-localhost/cakemail-smtp-gateway:ci}
buildah() { command buildah --storage-driver vfs "$@"; }
work=$(mktemp -d /tmp/gateway-smoke.XXXXXX)
ctr=""
run_pid=""
cleanup() {
  [ -n "$run_pid" ] && kill -0 "$run_pid" 2>/dev/null && kill -KILL "$run_pid" 2>/dev/null || true
  [ -n "$ctr" ] && { buildah umount "$ctr" >/dev/null 2>&1 || true; buildah rm "$ctr" >/dev/null 2>&1 || true; }
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "SMOKE FAIL: $*" >&2; echo "--- gateway output ---" >&2; cat "$work"/gateway*.log >&2 2>/dev/null || true; exit 1; }

# The image's ENTRYPOINT + CMD, exactly as `docker run IMAGE` would run them.
buildah inspect --type image "$IMAGE" >"$work/image.json"
mapfile -t argv < <(node -e '
  const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).OCIv1.config;
  for (const a of [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])]) console.log(a);' "$work/image.json")
echo "entrypoint + cmd: ${argv[*]}"
[ "${argv[0]}" = /usr/bin/tini ] || fail "the entrypoint is not tini"

# Free loopback ports (never the defaults, which a developer may be using).
read -r P_SUB P_SMTPS P_ALT P_ADMIN P_SANDBOX < <(node -e '
  const net = require("net");
  (async () => {
    const servers = await Promise.all([0,1,2,3,4].map(() => new Promise((r) => { const s = net.createServer(); s.listen(0, "127.0.0.1", () => r(s)); })));
    console.log(servers.map((s) => s.address().port).join(" "));
    servers.forEach((s) => s.close());
  })();')
ENV_ARGS=(--env SMTP_HOST=127.0.0.1 --env ADMIN_HOST=127.0.0.1 --env SANDBOX_HOST=127.0.0.1
  --env SMTP_SUBMISSION_PORT="$P_SUB" --env SMTP_SMTPS_PORT="$P_SMTPS" --env SMTP_ALT_SUBMISSION_PORT="$P_ALT"
  --env ADMIN_PORT="$P_ADMIN" --env SANDBOX_PORT="$P_SANDBOX" --env SMTP_SERVER_NAME=smoke.test)

wait_ready() { # $1: label
  for _ in $(seq 1 120); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_ADMIN/health/ready" || true)
    [ "$code" = 200 ] && { echo "$1: /health/ready 200"; return 0; }
    kill -0 "$run_pid" 2>/dev/null || fail "$1: the gateway exited before it was ready"
    sleep 0.5
  done
  fail "$1: /health/ready never answered 200"
}
# tini, the direct child of the command buildah runs (the container process tree is visible
# from the host with chroot isolation).
find_pid() { # $1: root pid, $2: command name
  local queue=("$1") p
  while [ ${#queue[@]} -gt 0 ]; do
    p=${queue[0]}; queue=("${queue[@]:1}")
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$2" ] && { echo "$p"; return 0; }
    mapfile -t -O ${#queue[@]} queue < <(pgrep -P "$p" || true)
  done
  return 1
}

# --- 1. buildah run: serve, send, drain ------------------------------------------------------
ctr=$(buildah from --pull=never "$IMAGE")
start=$(date +%s.%N)
buildah run --isolation chroot --network host "${ENV_ARGS[@]}" "$ctr" -- "${argv[@]}" >"$work/gateway.log" 2>&1 &
run_pid=$!
wait_ready "buildah run"
echo "ready after $(node -e "console.log((Date.now()/1000 - $start).toFixed(1))") s"

tini=$(find_pid "$run_pid" tini) || fail "no tini process under buildah run"
node_pid=$(pgrep -P "$tini" | head -1) || true
[ -n "$node_pid" ] || fail "no process under tini"
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$node_pid/status")
echo "process tree: buildah run $run_pid → tini $tini → $(cat "/proc/$node_pid/comm") $node_pid (uid $uid): $(tr '\0' ' ' <"/proc/$node_pid/cmdline")"
[ "$uid" = 1000 ] || fail "node runs as uid $uid, not 1000"

swaks --server "127.0.0.1:$P_SUB" --tls --auth-user demo@example.com --auth-password demo-password \
  --from demo@example.com --to smoke@example.org --header 'Subject: image smoke test' \
  --body 'sent by deploy/ci/smoke.sh' >"$work/swaks.log" 2>&1 || { cat "$work/swaks.log"; fail "swaks over STARTTLS failed"; }
grep -E '^<~ +250 2\.0\.0 Ok: queued as' "$work/swaks.log" || { cat "$work/swaks.log"; fail "no 250 queued reply"; }
swaks --server "127.0.0.1:$P_ALT" --tls --auth-user demo@example.com --auth-password demo-password \
  --from demo@example.com --to smoke-alt@example.org >"$work/swaks-alt.log" 2>&1 || { cat "$work/swaks-alt.log"; fail "swaks on the alternate submission port failed"; }
grep -E '^<~ +250 2\.0\.0 Ok: queued as' "$work/swaks-alt.log" || fail "no 250 on the alternate submission port"

swaks --server "127.0.0.1:$P_SMTPS" --tlsc --auth-user demo@example.com --auth-password demo-password \
  --from demo@example.com --to smoke-smtps@example.org >"$work/swaks-smtps.log" 2>&1 || { cat "$work/swaks-smtps.log"; fail "swaks over implicit TLS failed"; }
grep -E '^<~ +250 2\.0\.0 Ok: queued as' "$work/swaks-smtps.log" || fail "no 250 over implicit TLS"

emails=$(curl -sf "http://127.0.0.1:$P_SANDBOX/_sandbox/emails")
for rcpt in smoke@example.org smoke-alt@example.org smoke-smtps@example.org; do
  grep -q "\"$rcpt\"" <<<"$emails" || fail "the sandbox did not receive the message to $rcpt"
done
echo "sandbox received all three messages"
curl -sf "http://127.0.0.1:$P_ADMIN/metrics" | grep -E '^smtp_gateway_messages_total\{outcome="accepted"\} 3$' || fail "metrics do not count 3 accepted messages"

expiry=$(curl -sf "http://127.0.0.1:$P_ADMIN/metrics" | awk '/^smtp_gateway_tls_certificate_expiry_timestamp_seconds / { print $2 }')
node -e 'const e = Number(process.argv[1]); process.exit(e > Date.now() / 1000 + 86400 ? 0 : 1)' "$expiry" || fail "certificate expiry gauge is '$expiry'"
echo "certificate expiry gauge: $expiry ($(date -u -d "@${expiry%.*}" +%Y-%m-%d))"

kill -TERM "$tini"
rc=0; wait "$run_pid" || rc=$?
run_pid=""
echo "after SIGTERM: exit code $rc"
[ "$rc" = 0 ] || fail "exit code $rc after SIGTERM (expected 0)"
grep -q 'shutdown complete' "$work/gateway.log" || fail "no 'shutdown complete' log line"
buildah rm "$ctr" >/dev/null; ctr=""

# --- 2. read-only root filesystem, only /tmp writable ---------------------------------------
# buildah run cannot make the root read-only, so the image's root filesystem is mounted and
# bind-mounted read-only in a private mount namespace, with a tmpfs on /tmp (the chart's
# emptyDir), and the same entrypoint is run in it as uid 1000.
ctr=$(buildah from --pull=never "$IMAGE")
mnt=$(buildah mount "$ctr")
# Production content only: compiled JavaScript, no sources, no compiler, no npm.
for absent in app/src app/node_modules/typescript usr/local/lib/node_modules/npm usr/local/bin/npm; do
  [ ! -e "$mnt/$absent" ] || fail "the image contains /$absent"
done
[ -f "$mnt/app/dist/main.js" ] || ls "$mnt/app/dist" | grep -q . || fail "no compiled JavaScript in /app/dist"
echo "image content: /app/dist compiled, no sources, no compiler, no npm ($(du -sh "$mnt/app/node_modules" | cut -f1) of production node_modules)"
# The spool directory (DELIVERY_MODE=spool, SPOOL_BACKEND=dir): the runtime user's alone, and
# the image points SPOOL_DIR at it.
spool_dir=/var/spool/cakemail-smtp-gateway
[ "$(stat -c '%u:%g %a' "$mnt$spool_dir")" = "1000:1000 700" ] || fail "$spool_dir is $(stat -c '%u:%g %a' "$mnt$spool_dir" 2>&1), not 1000:1000 700"
grep -qx "SPOOL_DIR=$spool_dir" < <(node -e '
  const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).OCIv1.config;
  for (const kv of c.Env ?? []) console.log(kv);' "$work/image.json") || fail "the image does not set SPOOL_DIR=$spool_dir"
echo "spool directory: $spool_dir, uid 1000, mode 700, SPOOL_DIR set"
envs=()
while IFS= read -r kv; do envs+=("$kv"); done < <(node -e '
  const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).OCIv1.config;
  for (const kv of c.Env ?? []) console.log(kv);' "$work/image.json")
for ((i = 1; i < ${#ENV_ARGS[@]}; i += 2)); do envs+=("${ENV_ARGS[i]}"); done
envs+=(DELIVERY_MODE=spool)
unshare --mount --fork -- sh -c '
  set -e
  root=$1; shift
  mount --bind "$root" "$root"
  mount -o remount,bind,ro "$root"
  mount -t tmpfs -o size=64m,mode=1777 tmpfs "$root/tmp"
  mount -t tmpfs -o size=64m,mode=0700,uid=1000,gid=1000 tmpfs "$root/var/spool/cakemail-smtp-gateway"
  mount -t proc proc "$root/proc"
  mount --rbind /dev "$root/dev"
  exec chroot --userspec=1000:1000 "$root" /usr/bin/env -i "$@"
' sh "$mnt" "${envs[@]}" sh -c 'cd /app; touch /home/node/probe 2>/dev/null && echo "root filesystem is WRITABLE" >&2; touch /tmp/probe || echo "/tmp is NOT writable" >&2; exec "$@"' sh "${argv[@]}" \
  >"$work/gateway-ro.log" 2>&1 &
run_pid=$!
wait_ready "read-only root"
grep -q 'root filesystem is WRITABLE' "$work/gateway-ro.log" && fail "the root filesystem was writable (uid 1000 could write its home)"
grep -q '/tmp is NOT writable' "$work/gateway-ro.log" && fail "/tmp was not writable"
swaks --server "127.0.0.1:$P_SUB" --tls --auth-user demo@example.com --auth-password demo-password \
  --from demo@example.com --to smoke-spool@example.org >"$work/swaks-spool.log" 2>&1 || { cat "$work/swaks-spool.log"; fail "swaks in spool mode failed"; }
grep -E '^<~ +250 2\.0\.0 Ok: spooled as' "$work/swaks-spool.log" || { cat "$work/swaks-spool.log"; fail "no 250 spooled reply in spool mode"; }
for _ in $(seq 1 40); do
  curl -sf "http://127.0.0.1:$P_SANDBOX/_sandbox/emails" | grep -q '"smoke-spool@example.org"' && break
  sleep 0.5
done
curl -sf "http://127.0.0.1:$P_SANDBOX/_sandbox/emails" | grep -q '"smoke-spool@example.org"' || fail "the spooled message never reached the sandbox"
echo "spool mode on a read-only root: 250 spooled, then delivered"
tini=$(find_pid "$run_pid" tini) || fail "no tini process (read-only run)"
kill -TERM "$tini"
rc=0; wait "$run_pid" || rc=$?
run_pid=""
echo "read-only root: exit code $rc after SIGTERM"
[ "$rc" = 0 ] || fail "exit code $rc after SIGTERM on a read-only root"
echo "SMOKE OK"

# package-test-setup.sh: sourced by package-test.sh (which sets $here) before its steps. Skips
# (exit 77) where the sandbox cannot boot or a build dependency is missing; makes the work dir and
# the cleanup trap (journal on failure, sandbox stopped, work dir removed); defines the helpers the
# steps use (step/pass/fail, sb, sb_wait, journal_wait, main_pid, client, start_loop/stop_loop)
# and leaves the shell in the work dir.
repo=$(cd "$here/../.." && pwd)
# The sandbox lives in shared/ beside the checkout; look in each parent (a CI clone may sit deeper),
# then in the workplace's usual place.
find_sandbox() {
    local dir=$repo
    while [ "$dir" != "/" ]; do
        dir=$(dirname "$dir")
        [ -x "$dir/shared/systemd-sandbox/run-in-systemd.sh" ] && { echo "$dir/shared/systemd-sandbox/run-in-systemd.sh"; return; }
    done
    echo /work/shared/systemd-sandbox/run-in-systemd.sh
}
sandbox=${SYSTEMD_SANDBOX:-$(find_sandbox)}
started=$SECONDS
step_started=$SECONDS

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { step_started=$SECONDS; printf '\n=== %s\n' "$*"; }
pass() { echo "PASS: $* ($((SECONDS - step_started)) s)"; }

# --- Can this machine boot the sandbox? ----------------------------------------------------------
[ "$(id -u)" = 0 ] || skip "needs root to boot the systemd sandbox (run .ci/run or swift test as root)"
[ -x "$sandbox" ] || skip "systemd sandbox not found at $sandbox (set SYSTEMD_SANDBOX)"
for tool in unshare nsenter setpriv; do
    command -v "$tool" >/dev/null || skip "cannot boot the sandbox: $tool (util-linux) is missing"
done
[ -x /lib/systemd/systemd ] && command -v dbus-daemon >/dev/null \
    || skip "cannot boot the sandbox: systemd or dbus is not installed"
[ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ] \
    || [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ] \
    || skip "cannot boot the sandbox: no cgroup2 hierarchy"
unshare --pid --mount --uts --ipc --net --cgroup --fork /bin/true 2>/dev/null \
    || skip "cannot boot the sandbox: unshare of pid/mount/net/cgroup namespaces is not permitted here"

# --- Build dependencies -------------------------------------------------------------------------
missing=()
for tool in dpkg-buildpackage dpkg-checkbuilddeps dh lintian python3 readelf; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] || skip "build dependencies missing: ${missing[*]} (apt-get install debhelper lintian dpkg-dev python3 binutils)"
swiftc=$(command -v swiftc 2>/dev/null || true)
if [ -n "${SWIFT_TOOLCHAIN:-}" ]; then
    toolchain=$SWIFT_TOOLCHAIN/usr
elif [ -n "$swiftc" ]; then
    toolchain=$(dirname "$(dirname "$(readlink -f "$swiftc")")")
else
    toolchain=/opt/swift/usr
fi
[ -x "$toolchain/bin/swift" ] || skip "build dependency missing: the Swift toolchain ($toolchain/bin/swift)"
checkbuilddeps=$(cd "$repo" && dpkg-checkbuilddeps 2>&1) || skip "build dependencies missing: $checkbuilddeps"

# --- Work dir, sandbox, cleanup -----------------------------------------------------------------
work=$(mktemp -d /tmp/socketserverd-pkgtest.XXXXXX)
chmod 755 "$work"
# SwiftPM's lock files and lintian's temp files go here, so they go with the work dir.
mkdir "$work/tmp"
export SANDBOX_NAME=ssd-pkgtest-$$
# Only /tmp (the work dir) is shared with the sandbox.
export SANDBOX_DEFAULT_BINDS=/tmp SANDBOX_BINDS=
sandbox_up=0
cleanup() {
    local status=$?
    if [ "$sandbox_up" = 1 ]; then
        if [ "$status" != 0 ]; then
            echo "--- journal of socketserverd (for the failure above)"
            timeout 20 "$sandbox" exec journalctl -u socketserverd -u socketserverd.socket --no-pager \
                -o short-precise 2>&1 | tail -80 || true
        fi
        if timeout 60 "$sandbox" stop >/dev/null 2>&1; then
            # The sandbox keeps its console and journal in /run/NAME; after a pass nobody needs them.
            [ "$status" = 0 ] && rm -rf "/run/$SANDBOX_NAME"
        else
            echo "warning: sandbox $SANDBOX_NAME did not stop cleanly"
        fi
        [ "$status" = 0 ] || echo "sandbox logs: /run/$SANDBOX_NAME/"
    fi
    if [ "${KEEP_WORKDIR:-0}" = 1 ]; then echo "work dir kept: $work"; else rm -rf "$work"; fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a command inside the sandbox, bounded in time.
sb() { timeout 120 "$sandbox" exec "$@"; }
# Polls "$@" (inside the sandbox) for up to $1 seconds.
sb_wait() {
    local limit=$1; shift
    local deadline=$((SECONDS + limit))
    until sb "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.2
    done
}
journal() { sb journalctl -u socketserverd -u socketserverd.socket --no-pager -o cat; }
# Waits up to 15 s for an extended regex in the unit's journal.
journal_wait() {
    local deadline=$((SECONDS + 15))
    until journal | grep -Eq -- "$1"; do
        [ $SECONDS -lt $deadline ] || { echo "journal has no line matching: $1"; return 1; }
        sleep 0.2
    done
}
main_pid() { sb systemctl show -p MainPID --value socketserverd.service; }
# A client loop (client.py loop PORT) in the background, once its first request got its answer;
# stop_loop ends it, prints its "requests=N failures=M" and fails on any failed request.
start_loop() {
    rm -f "$work/stop-loop" "$work/stop-loop.running" "$work/loop.status"
    ( sb python3 "$work/client.py" loop "$1" "$work/stop-loop" > "$work/loop.log" 2>&1; echo $? > "$work/loop.status" ) &
    loop_pid=$!
    local deadline=$((SECONDS + 10))
    until [ -e "$work/stop-loop.running" ]; do
        [ $SECONDS -lt $deadline ] && [ ! -e "$work/loop.status" ] || { stop_loop "its start"; fail "the client loop did not start"; }
        sleep 0.1
    done
}
stop_loop() {
    touch "$work/stop-loop"
    wait "$loop_pid" || true
    cat "$work/loop.log"
    [ "$(cat "$work/loop.status")" = 0 ] || fail "the client loop saw failed requests during $1"
}
client() { sb python3 "$work/client.py" "$@"; }
cp "$here/client.py" "$work/client.py"
cd "$work"

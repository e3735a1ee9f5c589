#!/usr/bin/env bash
# package-test.sh: builds the Debian package from this checkout and proves, under a real systemd
# (../shared/systemd-sandbox), what an administrator does with it.
#
#   Tests/Packaging/package-test.sh        (as root; run by DebianPackageTests through `swift test`)
#
# Steps, each ending in a "PASS: ..." line: copy the tree to a temp dir, `dpkg-buildpackage -us -uc
# -b` there, lintian, boot the sandbox, hide the Swift toolchain, `dpkg -i`, ldd, serve the default
# config, processes run as socketserverd, reload adds a service under a client loop, the example
# plugin, an upload into the StateDirectory under the hardened unit, a broken
# config is refused and the old one keeps serving, systemd-analyze security, upgrade (a local
# edit of the conffile survives) and reinstall restart it, stop ends every process, socket
# activation, `dpkg --purge` leaves nothing behind. The sandbox is always stopped (trap).
#
# Exit status: 0 passed; 77 skipped (the line "SKIP: reason" says why: no root, no namespaces,
# no sandbox, or missing build dependencies); anything else failed ("FAIL: ...").
# Environment: SYSTEMD_SANDBOX (path of run-in-systemd.sh), KEEP_WORKDIR=1 (keep the temp dir).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
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
client() { sb python3 "$work/client.py" "$@"; }
cp "$here/client.py" "$work/client.py"
cd "$work"

# === 1. Build ===================================================================================
step "build: copy the checkout to $work/src, dpkg-buildpackage -us -uc -b"
mkdir "$work/src"
tar -C "$repo" --exclude='./.build*' --exclude=./.git --exclude=./.swiftpm --exclude='*.deb' \
    --exclude=./debian/socketserverd --exclude=./debian/.debhelper --exclude=./debian/files \
    --exclude=./debian/.home -cf - . | tar -C "$work/src" -xf -
if ! (cd "$work/src" && TMPDIR="$work/tmp" DEB_BUILD_OPTIONS="parallel=$(nproc)" timeout 420 dpkg-buildpackage -us -uc -b) \
        > "$work/build.log" 2>&1; then
    tail -60 "$work/build.log"
    fail "dpkg-buildpackage failed (log above)"
fi
grep -E '^(install-swift-runtime|dpkg-buildpackage: info)' "$work/build.log" || true
deb=$(ls "$work"/socketserverd_*_*.deb)
changes=$(ls "$work"/socketserverd_*.changes)
version=$(dpkg-deb -f "$deb" Version)
pass "build: ${deb##*/}"

step "package contents and Depends"
dpkg-deb -f "$deb" Depends
dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's|^\./|/|' > "$work/contents"
for path in /usr/sbin/socketserverd /etc/socketserverd/socketserverd.conf /etc/socketserverd/conf.d/ \
            /usr/lib/systemd/system/socketserverd.service /usr/lib/systemd/system/socketserverd.socket \
            /usr/lib/socketserverd/libswiftCore.so /usr/lib/socketserverd/plugins/ \
            /usr/share/man/man8/socketserverd.8.gz /usr/share/man/man5/socketserverd.conf.5.gz \
            /usr/share/doc/socketserverd/README.md.gz /usr/share/doc/socketserverd/copyright; do
    grep -qx -- "$path" "$work/contents" || fail "the package does not contain $path"
done
grep '^/usr/include/socketserverd/.\|^/usr/lib/socketserverd/plugins/.' "$work/contents" \
    || fail "the package has neither the plugin ABI header nor a plugin"
grep -q '^/usr/include/socketserverd/socketserverd_plugin\.h$' "$work/contents" || fail "no plugin ABI header"
grep -q '^/usr/lib/socketserverd/plugins/libgreet\.so$' "$work/contents" || fail "no example plugin libgreet.so"
dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles | tee "$work/conffiles"
grep -qx /etc/socketserverd/socketserverd.conf "$work/conffiles" || fail "socketserverd.conf is not a conffile"
readelf -dW "$work/src/debian/socketserverd/usr/sbin/socketserverd" | grep -E 'RUNPATH|RPATH' | tee "$work/rpath"
grep -q '\[/usr/lib/socketserverd\]' "$work/rpath" || fail "the binary's RUNPATH is not /usr/lib/socketserverd"
pass "package contents: binary, conffile, conf.d, units, private Swift runtime, plugin header and example plugin, man pages, README"

# === 2. lintian =================================================================================
step "lintian ${changes##*/}"
lintian_status=0
TMPDIR="$work/tmp" lintian -I --show-overrides --fail-on error,warning "$changes" > "$work/lintian.log" 2>&1 || lintian_status=$?
echo "lintian $(lintian --version | awk '{print $2}') -I --show-overrides (O: = overridden, reason in debian/socketserverd.lintian-overrides):"
grep -v -e 'running with root privileges is not recommended' -e '^N: ' "$work/lintian.log" || true
[ "$lintian_status" = 0 ] || fail "lintian reported errors or warnings (exit $lintian_status)"
! grep -Eq '^[EW]: ' "$work/lintian.log" || fail "lintian reported errors or warnings"
pass "lintian (no errors, no warnings)"

# === 3. Boot systemd, hide the toolchain, install ===============================================
step "boot the systemd sandbox ($SANDBOX_NAME)"
sandbox_up=1
timeout 120 "$sandbox" start 2>&1 | grep -E 'systemd is up|error' || true
sb systemctl is-system-running || true
pass "sandbox booted"

step "hide the Swift toolchain ($toolchain)"
sb mount -t tmpfs -o ro tmpfs "$toolchain"
sb test ! -e "$toolchain/bin/swiftc" || fail "the toolchain is still visible"
! sb sh -c 'command -v swift swiftc' || fail "swift is still on PATH"
pass "toolchain hidden: $toolchain is an empty read-only tmpfs"

step "dpkg -i ${deb##*/}"
sb dpkg -i "$deb" < /dev/null
[ "$(sb systemctl is-enabled socketserverd.service)" = enabled ] || fail "socketserverd.service is not enabled"
sb systemctl is-enabled socketserverd.socket || true
sb_wait 20 systemctl is-active --quiet socketserverd.service || fail "socketserverd.service is not active"
sb systemctl status socketserverd.service --no-pager | tee "$work/status" | head -12
grep -q 'Active: active (running)' "$work/status" || fail "status does not say active (running)"
[ "$(sb systemctl is-active socketserverd.socket || true)" = inactive ] || fail "the socket unit was started"
pass "installed, enabled, active (running); socketserverd.socket installed but not enabled"

step "ldd of every ELF file in the package, with the toolchain hidden"
elves="/usr/sbin/socketserverd $(grep '^/usr/lib/socketserverd/.*\.so$' "$work/contents" | tr '\n' ' ')"
sb sh -c 'for f in "$@"; do echo "== $f"; ldd "$f" || echo "ldd failed"; done' sh $elves > "$work/ldd" 2>&1
sed -n '/^== \/usr\/sbin\/socketserverd$/,/^== /p' "$work/ldd" | grep -v '^== /usr/lib'
! grep -Eq 'not found|ldd failed' "$work/ldd" || { cat "$work/ldd"; fail "a library is not found"; }
libs=$(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' "$work/ldd" | sort -u)
sb sh -c 'for lib in "$@"; do dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null \
              || echo "NO PACKAGE: $lib"; done' sh $libs | tee "$work/owners"
! grep -q '^NO PACKAGE' "$work/owners" || fail "a library the package uses belongs to no Debian package"
pass "ldd ($(echo $elves | wc -w) ELF files): nothing not found; every library is from a Debian package or socketserverd itself"

step "serve the default configuration to a client"
client defaults || fail "the default configuration is not served"
pass "serves the default config (echo tcp+udp, daytime, upper)"

step "every process of the service runs as socketserverd, not root"
master=$(main_pid)
cgroup=$(sb systemctl show -p ControlGroup --value socketserverd.service)
sb cat "/sys/fs/cgroup$cgroup/cgroup.procs" > "$work/procs"
sb ps -o user:20,uid,pid,ppid,cmd -p "$(paste -sd, "$work/procs")" | tee "$work/ps"
workers=$(awk -v m="$master" '$4 == m' "$work/ps" | wc -l)
[ "$workers" -ge 4 ] || fail "expected at least 4 workers under master $master, found $workers"
! awk 'NR > 1 && $1 != "socketserverd"' "$work/ps" | grep -q . || fail "a process does not run as socketserverd"
! awk 'NR > 1 && $2 == 0' "$work/ps" | grep -q . || fail "a process runs as root"
for pid in $(cat "$work/procs"); do
    runtimes=$(sb cat "/proc/$pid/maps" | awk '/libswiftCore\.so/ {print $NF}' | sort -u | wc -l)
    [ "$runtimes" -le 1 ] || fail "process $pid maps $runtimes copies of libswiftCore.so"
done
sb grep -E '^Cap(Eff|Bnd|Amb)' "/proc/$master/status"
for pid in $(awk -v m="$master" '$4 == m {print $3}' "$work/ps"); do
    held=$(sb grep -E '^(Cap(Inh|Prm|Eff|Amb):|NoNewPrivs:)' "/proc/$pid/status" | awk '$2 != "0000000000000000" && $2 != "1"')
    [ -z "$held" ] || fail "worker $pid holds capabilities: $held"
done
pass "master $master and its $workers workers run as socketserverd; workers hold no capability; one Swift runtime per process"

# === 4. Reload =================================================================================
step "systemctl reload after adding a service in conf.d, with a client loop running"
rm -f "$work/stop-loop"
( sb python3 "$work/client.py" loop 7007 "$work/stop-loop" > "$work/loop.log" 2>&1; echo $? > "$work/loop.status" ) &
loop_pid=$!
sleep 1
cat > "$work/50-extra.conf" <<'EOF'
; added by package-test.sh
[service extra]
listen = tcp://127.0.0.1:7020
handler = upper
workers = 1
EOF
sb install -m 0644 "$work/50-extra.conf" /etc/socketserverd/conf.d/50-extra.conf
sb systemctl reload socketserverd.service
sb_wait 15 python3 "$work/client.py" upper 7020 || fail "the added service does not answer on 7020"
journal_wait 'reloaded: generation 2'
sleep 1
touch "$work/stop-loop"
wait "$loop_pid" || true
cat "$work/loop.log"
[ "$(cat "$work/loop.status")" = 0 ] || fail "the client loop saw failed requests during the reload"
client upper 7020
journal | grep -E 'Reloading|Reloaded|SIGHUP|reloaded|extra' | tail -8
[ "$(main_pid)" = "$master" ] || fail "the master changed on reload"
pass "reload added service 'extra' on 7020; $(cat "$work/loop.log")"

step "a Swift plugin (libgreet.so) loads into the workers and shares the daemon's Swift runtime"
cat > "$work/40-greet.conf" <<'EOF'
; added by package-test.sh: the example plugin
[plugin greet]
path = libgreet.so

[service hello]
listen = tcp://127.0.0.1:7011
handler = greet.hello
greeting = hi there
workers = 1
EOF
sb install -m 0644 "$work/40-greet.conf" /etc/socketserverd/conf.d/40-greet.conf
sb systemctl reload socketserverd.service
sb_wait 15 python3 "$work/client.py" greet 7011 || { client greet 7011 || true; fail "the plugin service does not answer"; }
client greet 7011
journal_wait 'reloaded: generation 3'
hello_pid=$(journal | sed -n 's/.*worker \([0-9]*\) started for service hello .*/\1/p' | tail -1)
[ -n "$hello_pid" ] || fail "no worker for service hello in the journal"
sb awk '/\.so/ {print $NF}' "/proc/$hello_pid/maps" | sort -u > "$work/maps"
grep -E 'swiftCore|greet' "$work/maps"
grep -qx /usr/lib/socketserverd/plugins/libgreet.so "$work/maps" || fail "worker $hello_pid has not loaded libgreet.so"
[ "$(grep -c 'libswiftCore\.so' "$work/maps")" = 1 ] || fail "worker $hello_pid maps more than one libswiftCore.so"
grep -qx /usr/lib/socketserverd/libswiftCore.so "$work/maps" || fail "the runtime is not the package's"
pass "plugin greet.hello serves; worker $hello_pid maps one Swift runtime, /usr/lib/socketserverd/libswiftCore.so"

step "an upload service under the hardened unit: the file lands in the state directory, nothing else"
cat > "$work/45-upload.conf" <<'EOF'
; added by package-test.sh: uploads into the unit's StateDirectory
[service files]
listen = tcp://127.0.0.1:7022
handler = upload
directory = /var/lib/socketserverd/uploads
workers = 1
EOF
sb install -m 0644 "$work/45-upload.conf" /etc/socketserverd/conf.d/45-upload.conf
sb systemctl reload socketserverd.service
journal_wait 'reloaded: generation 4'
sb_wait 15 python3 "$work/client.py" upload 7022 package-test.txt \
    || { client upload 7022 package-test.txt || true; journal | tail -5; fail "the upload service did not store the file"; }
stored=$(sb stat -c '%U %s %h' /var/lib/socketserverd/uploads/package-test.txt) || fail "no stored file"
[ "$stored" = "socketserverd 5200 1" ] || fail "stored file is '$stored' (owner size links), expected 'socketserverd 5200 1'"
if sb ls -A /var/lib/socketserverd/uploads | grep -v '^package-test\.txt$'; then fail "something besides the upload is left"; fi
pass "upload stored /var/lib/socketserverd/uploads/package-test.txt ($stored), no temporary file"

step "a broken config edit plus systemctl reload: refused, old config keeps serving"
printf '[service broken]\nlisten = tcp://127.0.0.1:7021\nhandler = ech0\n' > "$work/60-broken.conf"
sb install -m 0644 "$work/60-broken.conf" /etc/socketserverd/conf.d/60-broken.conf
if sb systemctl reload socketserverd.service; then fail "systemctl reload accepted a broken config"; fi
journal_wait '60-broken.conf:3: unknown handler'
sb systemctl is-active --quiet socketserverd.service || fail "the service is not active after a refused reload"
[ "$(main_pid)" = "$master" ] || fail "the master changed"
client echo 7007 && client upper 7020 && client refused 7021 || fail "the old config is not what serves"
echo "the daemon itself, signalled directly (kill -HUP, as without the unit's check):"
sb systemctl kill -s HUP --kill-who=main socketserverd.service
journal_wait 'reload failed: .*still serving the previous one'
client echo 7007 && client upper 7020 && client refused 7021 || fail "the old config is not what serves"
journal | grep -E 'broken|ech0|reload failed|Reload failed|test failed' | tail -8
sb rm /etc/socketserverd/conf.d/60-broken.conf
pass "broken config: reload refused, old config serving, reason (file:line) in the journal"

# === 5. systemd-analyze security ================================================================
step "systemd-analyze security socketserverd.service"
sb systemd-analyze security --no-pager socketserverd.service | tee "$work/security" || true
exposure=$(sed -n 's/.*Overall exposure level for socketserverd.service: \([0-9.]*\).*/\1/p' "$work/security")
[ -n "$exposure" ] || fail "no exposure level in the output"
awk -v e="$exposure" 'BEGIN { exit !(e < 3.0) }' || fail "exposure $exposure is not below 3.0"
pass "systemd-analyze security: exposure $exposure (below 3.0)"

# === 6. Upgrade and reinstall ===================================================================
step "upgrade to a newer version: a local edit of the conffile survives, the service restarts"
new_version="$version+pkgtest1"
dpkg-deb -R "$deb" "$work/repack"
sed -i "s/^Version: .*/Version: $new_version/" "$work/repack/DEBIAN/control"
new_deb="$work/upgrade/socketserverd_${new_version}_$(dpkg-deb -f "$deb" Architecture).deb"
mkdir -p "$work/upgrade"
dpkg-deb -b "$work/repack" "$new_deb" >/dev/null
sb sh -c 'echo "; local edit kept across upgrades (package-test)" >> /etc/socketserverd/socketserverd.conf'
before=$(main_pid)
sb dpkg -i "$new_deb" < /dev/null
[ "$(sb dpkg-query -W -f '${Version}' socketserverd)" = "$new_version" ] || fail "the upgrade did not happen"
sb grep -q 'local edit kept' /etc/socketserverd/socketserverd.conf || fail "the local edit was lost"
sb test ! -e /etc/socketserverd/socketserverd.conf.dpkg-dist || fail "dpkg left a .dpkg-dist"
sb_wait 20 systemctl is-active --quiet socketserverd.service || fail "not active after the upgrade"
after=$(main_pid)
[ "$after" != "$before" ] && [ "$after" != 0 ] || fail "the service was not restarted by the upgrade"
client defaults >/dev/null && client upper 7020 || fail "not serving after the upgrade"
pass "upgrade $version -> $new_version: restarted (master $before -> $after), local edit kept"

step "reinstall the same version: the service restarts"
before=$after
sb dpkg -i "$new_deb" < /dev/null
sb_wait 20 systemctl is-active --quiet socketserverd.service || fail "not active after the reinstall"
after=$(main_pid)
[ "$after" != "$before" ] && [ "$after" != 0 ] || fail "the service was not restarted by the reinstall"
client defaults >/dev/null || fail "not serving after the reinstall"
pass "reinstall: restarted (master $before -> $after)"

# === 7. Stop ==================================================================================
step "systemctl stop ends every process"
uid=$(sb id -u socketserverd)
stop_started=$SECONDS
sb systemctl stop socketserverd.service
[ "$(sb systemctl is-active socketserverd.service || true)" = inactive ] || fail "not inactive after stop"
left=$(sb ps -e -o uid=,pid=,cmd= | awk -v u="$uid" '$1 == u || /\/usr\/sbin\/socketserverd/' || true)
[ -z "$left" ] || fail "processes left after stop: $left"
[ "$(main_pid)" = 0 ] || fail "MainPID is still set"
journal | grep -E 'graceful stop|exiting|Stopped|Deactivated' | tail -4
client refused 7007
pass "stop: no process left, took $((SECONDS - stop_started)) s"

# === 8. Socket activation =====================================================================
step "socket activation: socketserverd.socket holds the ports, the first client starts the service"
sb systemctl enable --now socketserverd.socket
[ "$(sb systemctl is-active socketserverd.service || true)" = inactive ] || fail "the service started early"
client defaults || fail "not served through socket activation"
sb_wait 10 systemctl is-active --quiet socketserverd.service || fail "the service did not start"
journal_wait 'using socket tcp://127.0.0.1:7007 passed by systemd'
journal | grep 'passed by systemd' | tail -4
client upper 7020 || fail "the service the socket does not list is not served"
pass "socket activation: started on the first connection, sockets matched by address"

# === 9. Purge ===================================================================================
step "dpkg --purge (service running, socket enabled and listening) leaves nothing behind"
sb systemctl is-active socketserverd.service socketserverd.socket || fail "not running before the purge"
gid=$(sb getent group socketserverd | cut -d: -f3)
sb dpkg -L socketserverd > "$work/files"
sb dpkg --purge socketserverd < /dev/null
! sb dpkg-query -W -f '${Status}' socketserverd 2>/dev/null | grep -q installed || fail "still installed"
# Each path the package had must be gone, unless it is a directory another package uses too.
sb sh -c 'while read -r path; do
              [ "$path" = /. ] && continue
              [ -e "$path" ] || [ -L "$path" ] || continue
              [ -d "$path" ] && dpkg -S "$path" >/dev/null 2>&1 && continue
              echo "LEFT: $path"
          done' < "$work/files" > "$work/left"
[ ! -s "$work/left" ] || fail "files of the package are still there: $(cat "$work/left")"
sb sh -c 'for p in "$@"; do [ -e "$p" ] && echo "LEFT: $p"; done; true' sh \
    /etc/socketserverd /var/lib/socketserverd /var/lib/private/socketserverd /var/log/socketserverd /run/socketserverd \
    /etc/systemd/system/multi-user.target.wants/socketserverd.service \
    /etc/systemd/system/sockets.target.wants/socketserverd.socket > "$work/left"
[ ! -s "$work/left" ] || fail "still there: $(cat "$work/left")"
! sb getent passwd socketserverd >/dev/null || fail "the user socketserverd is still there"
! sb getent group socketserverd >/dev/null || fail "the group socketserverd is still there"
owned=$(sb find /etc /var /run /srv /home /root /opt -xdev \( -uid "$uid" -o -gid "$gid" \) -print 2>/dev/null || true)
[ -z "$owned" ] || fail "files of uid $uid / gid $gid are left: $owned"
left=$(sb ps -e -o uid=,pid=,cmd= | awk -v u="$uid" '$1 == u || /\/usr\/sbin\/socketserverd/' || true)
[ -z "$left" ] || fail "processes left after purge: $left"
client refused 7007 || fail "something still listens on 7007 (the socket unit?)"
! sb sh -c 'ls -d /tmp/systemd-private-*-socketserverd.service-* /var/tmp/systemd-private-*-socketserverd.service-* 2>/dev/null' \
    || fail "PrivateTmp directories are left"
! sb sh -c 'ls /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked 2>/dev/null -R | grep socketserverd' \
    || fail "deb-systemd-helper state is left"
[ -z "$(sb systemctl list-unit-files --no-legend 'socketserverd*' || true)" ] || fail "unit files are left"
pass "purge: no package files, no /etc/socketserverd, no /var/lib/socketserverd, no user or group, no files of uid $uid"

echo
echo "package-test: PASS ($((SECONDS - started)) s)"

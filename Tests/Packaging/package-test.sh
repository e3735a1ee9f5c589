#!/usr/bin/env bash
# package-test.sh: builds the Debian package from this checkout and proves, under a real systemd
# (../shared/systemd-sandbox), what an administrator does with it.
#
#   Tests/Packaging/package-test.sh        (as root; run by DebianPackageTests through `swift test`)
#
# Steps, each ending in a "PASS: ..." line: copy the tree to a temp dir, `dpkg-buildpackage -us -uc
# -b` there, lintian, a second package of a higher version from the built tree
# (build-upgrade-package.sh), boot the sandbox, hide the Swift toolchain, `dpkg -i`, ldd, serve
# the default config, processes run as socketserverd, reload adds a service under a client loop,
# the example plugin, an upload into the StateDirectory under the hardened unit, a broken
# config is refused and the old one keeps serving, systemd-analyze security, the upgrade to the
# second package replaces the binary in place (SIGUSR2, same MainPID) under a client loop without
# a failed request and keeps a local edit of the conffile, reinstall restarts it, stop ends every
# process, socket activation, `dpkg --purge` leaves nothing behind. The sandbox is always stopped
# (trap).
#
# Exit status: 0 passed; 77 skipped (the line "SKIP: reason" says why: no root, no namespaces,
# no sandbox, or missing build dependencies); anything else failed ("FAIL: ...").
# Environment: SYSTEMD_SANDBOX (path of run-in-systemd.sh), KEEP_WORKDIR=1 (keep the temp dir).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/package-test-setup.sh"

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
            /usr/share/doc/socketserverd/README.md.gz /usr/share/doc/socketserverd/copyright \
            /usr/lib/python3/dist-packages/socketserverd.py; do
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
# With --show-overrides lintian exits 2 for an overridden warning too (O: above, its reason in the
# overrides file); an error or warning that is not overridden is an E: or W: line.
[ "$lintian_status" = 0 ] || [ "$lintian_status" = 2 ] || fail "lintian failed (exit $lintian_status)"
! grep -Eq '^[EW]: ' "$work/lintian.log" || fail "lintian reported errors or warnings"
pass "lintian (no errors, no warnings)"

step "build the upgrade package: the built tree, version $version+pkgtest1 (build-upgrade-package.sh)"
new_version="$version+pkgtest1"
if ! TMPDIR="$work/tmp" DEB_BUILD_OPTIONS="parallel=$(nproc)" timeout 420 \
        bash "$here/build-upgrade-package.sh" "$work/src" "$new_version" > "$work/build-upgrade.log" 2>&1; then
    tail -60 "$work/build-upgrade.log"
    fail "the upgrade package did not build (log above)"
fi
grep -E '^\[[0-9]+/[0-9]+\] Compiling' "$work/build-upgrade.log" || true
new_deb=$(ls "$work/socketserverd_${new_version}_"*.deb)
[ "$(dpkg-deb -f "$new_deb" Version)" = "$new_version" ] || fail "${new_deb##*/} is not version $new_version"
pass "upgrade package built: ${new_deb##*/}, reusing the first build's .build-deb"

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
sb python3 -c 'import socketserverd; print(socketserverd.__file__)' | grep -qx /usr/lib/python3/dist-packages/socketserverd.py \
    || fail "python3 does not import socketserverd from the package"
pass "python3 imports the socketserverd module from /usr/lib/python3/dist-packages"

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

step "socketserverd status and scale on the control socket in the unit's RuntimeDirectory"
control=$(sb stat -c '%U:%G %a %F' /run/socketserverd/control.sock) || fail "no /run/socketserverd/control.sock"
[ "$control" = "socketserverd:socketserverd 660 socket" ] || fail "the control socket is $control"
sb /usr/sbin/socketserverd status
sb /usr/sbin/socketserverd status --json > "$work/status.json" || fail "socketserverd status --json failed"
python3 - "$work/status.json" "$master" <<'EOF_PY' || fail "status --json does not describe the running daemon"
import json, sys
status = json.load(open(sys.argv[1]))
assert status["pid"] == int(sys.argv[2]), status
assert [s["name"] for s in status["services"]] == ["echo", "echo-udp", "daytime", "upper"], status["services"]
assert all(w["generation"] == status["generation"] for s in status["services"] for w in s["workers"]), status
EOF_PY
sb /usr/sbin/socketserverd scale echo 3 || fail "scale echo 3 failed"
scaled=
for _ in $(seq 50); do
    sb /usr/sbin/socketserverd status --json > "$work/status.json" || true
    if python3 -c 'import json, sys; echo = [s for s in json.load(open(sys.argv[1]))["services"] if s["name"] == "echo"][0]
assert echo["wanted"] == 3 and len(echo["workers"]) == 3' "$work/status.json" 2>/dev/null; then scaled=1; break; fi
    sleep 0.2
done
[ -n "$scaled" ] || { cat "$work/status.json"; fail "status does not show echo scaled to 3 workers"; }
if sb setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/sbin/socketserverd status 2> "$work/denied"; then
    fail "nobody could use the control socket"
fi
grep -q 'Permission denied' "$work/denied" || { cat "$work/denied"; fail "nobody was not refused for want of permission"; }
pass "control socket socketserverd:socketserverd 0660: status (text and JSON) and scale for root, refused to nobody"

# === 4. Reload =================================================================================
step "systemctl reload after adding a service in conf.d, with a client loop running"
start_loop 7007
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
stop_loop "the reload"
client upper 7020
journal | grep -E 'Reloading|Reloaded|SIGHUP|reloaded|extra' | tail -8
[ "$(main_pid)" = "$master" ] || fail "the master changed on reload"
pass "reload added service 'extra' on 7020; $(cat "$work/loop.log")"

step "a Swift plugin (libgreet.so) loads into the workers, shares the daemon's Swift runtime and serves events too"
cat > "$work/40-greet.conf" <<'EOF'
; added by package-test.sh: the example plugin
[plugin greet]
path = libgreet.so

[service hello]
listen = tcp://127.0.0.1:7011
handler = greet.hello
greeting = hi there
workers = 1

[service hello-events]
listen = tcp://127.0.0.1:7012
handler = greet.hello
greeting = hi there
workers = 1
concurrency = events
EOF
sb install -m 0644 "$work/40-greet.conf" /etc/socketserverd/conf.d/40-greet.conf
sb systemctl reload socketserverd.service
sb_wait 15 python3 "$work/client.py" greet 7011 || { client greet 7011 || true; fail "the plugin service does not answer"; }
client greet 7011
sb_wait 15 python3 "$work/client.py" greet 7012 || fail "greet.hello's event variant (concurrency = events) does not answer"
journal_wait 'reloaded: generation 3'
hello_pid=$(journal | sed -n 's/.*worker \([0-9]*\) started for service hello .*/\1/p' | tail -1)
[ -n "$hello_pid" ] || fail "no worker for service hello in the journal"
sb awk '/\.so/ {print $NF}' "/proc/$hello_pid/maps" | sort -u > "$work/maps"
grep -E 'swiftCore|greet' "$work/maps"
grep -qx /usr/lib/socketserverd/plugins/libgreet.so "$work/maps" || fail "worker $hello_pid has not loaded libgreet.so"
[ "$(grep -c 'libswiftCore\.so' "$work/maps")" = 1 ] || fail "worker $hello_pid maps more than one libswiftCore.so"
grep -qx /usr/lib/socketserverd/libswiftCore.so "$work/maps" || fail "the runtime is not the package's"
pass "plugin greet.hello serves; its event variant serves concurrency = events; worker $hello_pid maps one Swift runtime, /usr/lib/socketserverd/libswiftCore.so"

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
step "upgrade to $new_version under a client loop: the binary is replaced in place (SIGUSR2)"
sb sh -c 'echo "; local edit kept across upgrades (package-test)" >> /etc/socketserverd/socketserverd.conf'
before=$(main_pid)
old_status=$(sb systemctl show -p StatusText --value socketserverd.service)
old_generation=${old_status##*, generation }
[[ $old_generation =~ ^[0-9]+$ ]] || fail "no generation in the StatusText '$old_status'"
sb ps -o pid= --ppid "$before" > "$work/old-workers"
[ -s "$work/old-workers" ] || fail "master $before has no workers"
start_loop 7007
upgrade_started=$SECONDS
sb dpkg -i "$new_deb" < /dev/null 2>&1 | tee "$work/upgrade.log"
upgrade_took=$((SECONDS - upgrade_started))
[ "$(sb dpkg-query -W -f '${Version}' socketserverd)" = "$new_version" ] || fail "the upgrade did not happen"
grep -q "^socketserverd: upgraded in place to socketserverd $new_version" "$work/upgrade.log" \
    || fail "the postinst did not report the upgrade in place"
! grep -q 'restarting' "$work/upgrade.log" || fail "the postinst fell back to a restart"
after=$(main_pid)
[ "$after" = "$before" ] || fail "MainPID changed from $before to $after: the service was restarted"
exe=$(sb readlink "/proc/$after/exe")
[ "$exe" = /usr/sbin/socketserverd ] || fail "the master runs '$exe', not /usr/sbin/socketserverd"
[ "$(sb stat -L -c %d:%i "/proc/$after/exe")" = "$(sb stat -c %d:%i /usr/sbin/socketserverd)" ] \
    || fail "the master does not run the installed /usr/sbin/socketserverd (another inode)"
! sb grep -E ' /usr/.* \(deleted\)$' "/proc/$after/maps" || fail "the master still maps files the upgrade replaced"
status=$(sb systemctl show -p StatusText --value socketserverd.service)
echo "StatusText before: $old_status"
echo "StatusText after:  $status"
case "$status" in "socketserverd $new_version: "*", generation $((old_generation + 1))") ;;
    *) fail "StatusText does not name $new_version in generation $((old_generation + 1))" ;; esac
journal_wait "upgrade: /usr/sbin/socketserverd checked the configuration; re-executing it \\(pid $before stays\\)"
journal_wait "upgraded: socketserverd ${new_version//+/\\+} \\(/usr/sbin/socketserverd\\), generation $((old_generation + 1))"
# The old generation's workers finish their requests and exit within graceful_timeout (30 s).
deadline=$((SECONDS + 30))
while left=$(sb sh -c 'for pid; do [ -e "/proc/$pid" ] && echo "$pid"; done; true' sh $(cat "$work/old-workers")) \
        && [ -n "$left" ]; do
    [ $SECONDS -lt $deadline ] || fail "workers of the old generation are still running after 30 s: $left"
    sleep 0.2
done
retired_after=$((SECONDS - upgrade_started))
stop_loop "the upgrade"
client defaults >/dev/null && client upper 7020 && client greet 7011 || fail "not serving after the upgrade"
sb grep -q 'local edit kept' /etc/socketserverd/socketserverd.conf || fail "the local edit was lost"
sb test ! -e /etc/socketserverd/socketserverd.conf.dpkg-dist || fail "dpkg left a .dpkg-dist"
journal | grep -E 'SIGUSR2|upgrade|retir' | tail -6
pass "upgrade in place $version -> $new_version: MainPID $before kept, runs the new /usr/sbin/socketserverd," \
     "STATUS= names $new_version, dpkg -i took $upgrade_took s, $(wc -l < "$work/old-workers") old workers gone" \
     "after $retired_after s; $(cat "$work/loop.log"); local edit kept"

step "reinstall the same version: the service restarts"
before=$after
sb dpkg -i "$new_deb" < /dev/null
sb_wait 20 systemctl is-active --quiet socketserverd.service || fail "not active after the reinstall"
after=$(main_pid)
[ "$after" != "$before" ] && [ "$after" != 0 ] || fail "the service was not restarted by the reinstall"
client defaults >/dev/null || fail "not serving after the reinstall"
pass "reinstall: restarted (master $before -> $after)"

step "an upgrade whose binary rejects the configuration: the postinst says so and the running binary keeps serving"
# The same package, repacked as a newer version with a /usr/sbin/socketserverd that rejects every
# configuration (and so the master's upgrade check as well as the unit's ExecStartPre= check).
broken_version="$new_version+broken"
dpkg-deb -R "$new_deb" "$work/broken"
sed -i "s/^Version: .*/Version: $broken_version/" "$work/broken/DEBIAN/control"
sed -i "s/^version=\".*\"$/version=\"$broken_version\"/" "$work/broken/DEBIAN/postinst"
grep -qx "version=\"$broken_version\"" "$work/broken/DEBIAN/postinst" || fail "cannot set the postinst's version"
printf '#!/bin/sh\ncase "$1" in\n    --version) echo "socketserverd %s" ;;\n    *) echo "package-test: this build rejects every configuration" >&2; exit 1 ;;\nesac\n' \
    "$broken_version" > "$work/broken/usr/sbin/socketserverd"
broken_deb="$work/upgrade/socketserverd_${broken_version}_$(dpkg-deb -f "$deb" Architecture).deb"
mkdir -p "$work/upgrade"
dpkg-deb -Zgzip -z1 -b "$work/broken" "$broken_deb" >/dev/null
before=$(main_pid)
sb dpkg -i "$broken_deb" < /dev/null 2> "$work/broken.err" || { cat "$work/broken.err"; fail "dpkg -i failed"; }
cat "$work/broken.err"
grep -q '^socketserverd: the upgrade in place (SIGUSR2) failed: upgrade failed: .*rejects every configuration.*still serving with the running binary' \
    "$work/broken.err" || fail "the postinst did not report the failed upgrade on stderr"
grep -q '^socketserverd: the previous binary keeps serving' "$work/broken.err" || fail "the postinst does not say the old binary serves"
! grep -q 'restarting' "$work/broken.err" || fail "the postinst restarted the service onto the refused binary"
journal_wait "\\[$before\\] [a-z]*: upgrade failed: /usr/sbin/socketserverd --check-config .*; still serving with the running binary"
[ "$(main_pid)" = "$before" ] || fail "the master changed after a refused upgrade"
client defaults >/dev/null || fail "not serving after a refused upgrade"
sb dpkg -i "$new_deb" < /dev/null
sb_wait 20 systemctl is-active --quiet socketserverd.service || fail "not active after installing $new_version again"
client defaults >/dev/null || fail "not serving after installing $new_version again"
pass "a failed upgrade in place: 'upgrade failed' reported on stderr, the running binary kept serving (master" \
     "$before); installing $new_version again upgrades in place (master $(main_pid))"

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

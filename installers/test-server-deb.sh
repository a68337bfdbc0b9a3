#!/usr/bin/env bash
# Tests the headless server's Debian package end to end, as root:
#   installers/test-server-deb.sh [path/to/realms_*.deb]
# Without a path the package is built first (installers/build-server-deb.sh, a release build).
#  1. dpkg-deb: control fields (version = workspace version), the conffile, the expected files.
#  2. lintian: no error or warning that is not overridden (with a reason) in installers/deb/.
#  3. A fresh Debian root (debootstrap minbase + adduser + systemd of the host's release, cached
#     as a tarball in $INSTALLERS_TOOLS) gets the package from its own dpkg, run chrooted there, so
#     the host's dpkg database and users are never touched: system user, data directory, env
#     file permissions, enabled unit; the packaged binary serves /healthz as the `realms` user
#     with the packaged env file; the env file documents every setting with its true default; a
#     reinstall keeps an edited env file; remove keeps data and configuration; purge leaves
#     nothing behind.
#  4. systemd-analyze verify accepts the unit, and its offline security review stays below
#     $INSTALLERS_MAX_EXPOSURE.
#  5. The root boots under systemd-nspawn (systemd as PID 1, host network) and systemd starts
#     realms.service with all its hardening: /healthz, a registration and a login answer; the
#     process runs as realms with no capabilities, no_new_privs and a seccomp filter; `systemctl
#     stop` ends it gracefully. INSTALLERS_BOOT_TEST=0 skips this where containers cannot run.
# Installs what it needs with apt when missing. Exits non-zero on any failure; ends with
# "server-deb: N passed, M failed". INSTALLERS_KEEP_ROOT=1 keeps the test root for inspection.
# (The knobs are INSTALLERS_*, not REALMS_*: realms reads every REALMS_* variable as a setting.)
set -euo pipefail
cd "$(dirname "$0")/.."
INSTALLERS_TOOLS=${INSTALLERS_TOOLS:-/var/tmp/realms-tools}
MAX_EXPOSURE=${INSTALLERS_MAX_EXPOSURE:-2.0}
# Seconds the packaged server may take to answer /healthz after it is started, and the booted
# container (systemd, then the unit) after systemd-nspawn starts; and to shut down.
HEALTH_WAIT_SECS=${INSTALLERS_HEALTH_WAIT_SECS:-20}
BOOT_WAIT_SECS=${INSTALLERS_BOOT_WAIT_SECS:-90}

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
# check DESCRIPTION COMMAND...: runs COMMAND, counts and reports the outcome.
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else not_ok "$what"; fi
}
die() {
  echo "server-deb: $*" >&2
  echo "server-deb: ${passed} passed, $((failed + 1)) failed"
  exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root (dpkg and the maintainer scripts run in a chroot)"

need=()
command -v lintian >/dev/null || need+=(lintian)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
boot_test=${INSTALLERS_BOOT_TEST:-1}
if [ "$boot_test" = 1 ]; then command -v systemd-nspawn >/dev/null || need+=(systemd-container); fi
if [ ${#need[@]} -gt 0 ]; then
  echo "==> apt-get install ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- the package -------------------------------------------------------------------------
if [ $# -ge 1 ]; then
  deb=$(realpath "$1")
else
  echo "==> building the package"
  deb=$(./installers/build-server-deb.sh)
fi
[ -f "$deb" ] || die "no package at ${deb}"
echo "==> testing ${deb}"

workspace_version=$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version = "\(.*\)"/\1/p' Cargo.toml)
info=$(dpkg-deb --info "$deb")
field() { dpkg-deb --field "$deb" "$1"; }
check "package name is realms" test "$(field Package)" = realms
check "version ${workspace_version}-1 comes from the workspace" \
  test "$(field Version)" = "${workspace_version}-1"
check "architecture is the host's" test "$(field Architecture)" = "$(dpkg --print-architecture)"
check "depends on adduser and libc" \
  grep -Eq '(^|, )adduser(,|$| )' <<<"$(field Depends)"
check "depends on libc6 (computed by dpkg-shlibdeps)" grep -q 'libc6 (>=' <<<"$(field Depends)"
conffile_listed() { dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/realms/realms.env; }
check "conffiles lists /etc/realms/realms.env" conffile_listed
control_script_parses() { dpkg-deb --ctrl-tarfile "$deb" | tar -xO "./$1" | sh -n; }
for script in postinst prerm postrm; do
  check "control has ${script}" grep -Eq "^ +[0-9]+ bytes, +[0-9]+ lines +\\* +${script} " <<<"$info"
  check "${script} is valid sh" control_script_parses "$script"
done
changelog_version=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/share/doc/realms/changelog.Debian.gz |
  gzip -dc | sed -n '1s/^realms (\([^)]*\)).*/\1/p' || true)
check "the changelog's latest entry is this version (installers/deb/changelog: ${changelog_version})" \
  test "$changelog_version" = "$(field Version)"

contents=$(dpkg-deb --contents "$deb")
unit_path=$(awk '{print $6}' <<<"$contents" | grep -E '^\./(usr/)?lib/systemd/system/realms\.service$' || true)
check "the unit is in the package (${unit_path:-missing})" test -n "$unit_path"
unit_path=${unit_path#.}
for path in ./usr/bin/realms ./etc/realms/realms.env ./usr/share/doc/realms/README.md \
  ./usr/share/doc/realms/copyright ./usr/share/lintian/overrides/realms; do
  check "contains ${path}" grep -q " ${path}\$" <<<"$contents"
done
check "/usr/bin/realms is root-owned and 0755" \
  grep -Eq '^-rwxr-xr-x (root/root|0/0) .* \./usr/bin/realms$' <<<"$contents"
nothing_under_var_lib() { ! grep -q ' \./var/lib/' <<<"$contents"; }
packaged_env_is_ours() {
  cmp -s <(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./etc/realms/realms.env) installers/deb/realms.env
}
check "nothing under /var/lib (the data directory is made at install)" nothing_under_var_lib
check "the packaged env file is the repository's" packaged_env_is_ours

# --- lintian ---------------------------------------------------------------------------------
echo "==> lintian"
lintian_log=$(mktemp)
if lintian --fail-on error,warning --display-info "$deb" >"$lintian_log" 2>&1; then
  ok "lintian: no errors or warnings (overrides in installers/deb/lintian-overrides)"
else
  not_ok "lintian reported errors or warnings"
fi
sed 's/^/  lintian: /' "$lintian_log"
rm -f "$lintian_log"

# --- a Debian root to install into --------------------------------------------------------
# shellcheck disable=SC1091
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "$codename" ] || die "cannot tell the host's release (VERSION_CODENAME in /etc/os-release)"
# adduser: the package depends on it; systemd: its units and deb-systemd-helper, as on a server.
base_packages=adduser,systemd
base_tar="${INSTALLERS_TOOLS}/debootstrap-${codename}-minbase-${base_packages//,/-}.tar"
if [ ! -s "$base_tar" ]; then
  # The host's own apt source for its release: the same mirror apt-get uses here.
  host_mirror() {
    # shellcheck disable=SC2016 # apt expands $(...) in its own format string
    apt-get indextargets --format '$(REPO_URI) $(RELEASE)' |
      awk -v r="$codename" '$2 == r {print $1; exit}'
  }
  mirror=$(host_mirror)
  if [ -z "$mirror" ]; then
    apt-get update -qq
    mirror=$(host_mirror)
  fi
  [ -n "$mirror" ] || die "no apt source for ${codename} in the host's apt configuration"
  echo "==> debootstrap ${codename} from the host's apt source (cached in ${base_tar})"
  staging=$(mktemp -d /var/tmp/realms-debootstrap.XXXXXX)
  if ! debootstrap --variant=minbase --include="$base_packages" "$codename" "$staging" "$mirror" \
    >"${staging}.log" 2>&1; then
    tail -n 30 "${staging}.log" >&2
    rm -rf "$staging" "${staging}.log"
    die "debootstrap failed"
  fi
  mkdir -p "$INSTALLERS_TOOLS"
  chmod 755 "$staging"
  tar -C "$staging" -cf "${base_tar}.part" .
  mv "${base_tar}.part" "$base_tar"
  rm -rf "$staging" "${staging}.log"
fi

root=$(mktemp -d /var/tmp/realms-deb-root.XXXXXX)
server_pid=
nspawn_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  if [ -n "$nspawn_pid" ]; then stop_container; fi
  if [ "${INSTALLERS_KEEP_ROOT:-0}" = 1 ]; then
    echo "kept the test root: ${root}"
  else
    rm -rf "$root"
  fi
}
# Powers the booted container off and waits for systemd-nspawn to end (killing it after
# BOOT_WAIT_SECS), so nothing runs in the root when it is purged or deleted.
stop_container() {
  [ -n "$nspawn_pid" ] || return 0
  local init
  init=$(ps -o pid= --ppid "$nspawn_pid" | head -n 1 | tr -d ' ')
  if [ -n "$init" ]; then nsenter --target "$init" --all systemctl poweroff 2>/dev/null || true; fi
  for _ in $(seq 1 $((BOOT_WAIT_SECS * 2))); do
    kill -0 "$nspawn_pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$nspawn_pid" 2>/dev/null; then
    echo "server-deb: the container did not power off; killing systemd-nspawn" >&2
    kill "$nspawn_pid" 2>/dev/null || true
  fi
  wait "$nspawn_pid" 2>/dev/null || true
  nspawn_pid=
}
trap cleanup EXIT
tar -C "$root" -xf "$base_tar"
chmod 755 "$root" # mktemp made it 0700: the service user must be able to enter its `/`
# The root's own dpkg, chrooted, as an administrator would run it (no answers to prompts). The
# host's `dpkg --root=` installs too, but it resolves dpkg-statoverride owners with the host's
# user database, which has no `realms` group, and so refuses to touch the package again.
cp "$deb" "$root/tmp/realms.deb"
dpkg_root() { chroot "$root" dpkg "$@" </dev/null; }
# shellcheck disable=SC2016 # a dpkg-query format, not shell
status_of() { chroot "$root" dpkg-query -W -f '${Status}' realms 2>/dev/null || true; }
# Ids from the test root's own user database (the host may have no `realms` user).
root_user_id() { awk -F: -v u="$1" '$1 == u {print $3}' "$root/etc/passwd"; }
root_group_id() { awk -F: -v g="$1" '$1 == g {print $3}' "$root/etc/group"; }
passwd_field() { awk -F: -v f="$1" '$1 == "realms" {print $f}' "$root/etc/passwd"; }
statoverride_set() {
  chroot "$root" dpkg-statoverride --list /etc/realms/realms.env |
    grep -q '^root realms 0*640 /etc/realms/realms.env$'
}
statoverride_gone() { ! chroot "$root" dpkg-statoverride --list /etc/realms/realms.env >/dev/null; }
binary_reports_version() { chroot "$root" /usr/bin/realms --version | grep -q "$workspace_version"; }

# --- install ---------------------------------------------------------------------------------
echo "==> install (dpkg in the test root)"
if dpkg_root -i /tmp/realms.deb; then ok "dpkg -i succeeds"; else die "dpkg -i failed"; fi
check "status is installed" test "$(status_of)" = "install ok installed"
uid=$(root_user_id realms)
gid=$(root_group_id realms)
check "system user realms exists (uid ${uid:-none})" test -n "$uid"
check "group realms exists" test -n "$gid"
if [ -n "$uid" ]; then
  check "realms is a system uid below 1000" test "$uid" -lt 1000
  check "realms has no login shell" test "$(passwd_field 7)" = /usr/sbin/nologin
  check "realms' home is /var/lib/realms" test "$(passwd_field 6)" = /var/lib/realms
fi
check "/var/lib/realms is realms-owned, mode 700" \
  test "$(stat -c '%a %u:%g' "$root/var/lib/realms")" = "700 ${uid}:${gid}"
check "/etc/realms/realms.env is root:realms, mode 640" \
  test "$(stat -c '%a %u:%g' "$root/etc/realms/realms.env")" = "640 0:${gid}"
check "the env file's mode is a dpkg-statoverride" statoverride_set
unit_enabled() {
  local target
  target=$(readlink "$root/etc/systemd/system/multi-user.target.wants/realms.service") &&
    [ "${target#/usr}" = "${unit_path#/usr}" ] && [ -f "${root}${target}" ]
}
check "the unit is enabled (multi-user.target.wants)" unit_enabled
check "the installed binary runs in the root" binary_reports_version

# --- the packaged server runs as the service would ---------------------------------------
# As the `realms` user, with the unit's environment and the packaged env file, in the chroot.
echo "==> run the packaged server as realms"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Like the unit: Environment= first (plus $service_env), then the env file on top.
service_env=()
as_service() {
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin REALMS_DATA_DIR=/var/lib/realms "${service_env[@]}" \
    chroot --userspec="${uid}:${gid}" "$root" sh -c \
    'cd /var/lib/realms && set -a && . /etc/realms/realms.env && set +a && exec "$@"' realms "$@"
}
server_log="$root/tmp/realms-serve.log"
REALMS_ADDR_OVERRIDE="127.0.0.1:${port}"
# Not through as_service: $! must be the server itself (env, chroot and sh all exec).
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin REALMS_DATA_DIR=/var/lib/realms \
  chroot --userspec="${uid}:${gid}" "$root" sh -c \
  'cd /var/lib/realms && set -a && . /etc/realms/realms.env && set +a && exec "$@"' realms \
  /usr/bin/realms serve --addr "$REALMS_ADDR_OVERRIDE" >"$server_log" 2>&1 &
server_pid=$!
healthy=no
for _ in $(seq 1 $((HEALTH_WAIT_SECS * 10))); do
  if curl -fsS "http://${REALMS_ADDR_OVERRIDE}/healthz" >/dev/null 2>&1; then healthy=yes; break; fi
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
check "the packaged server answers /healthz as user realms" test "$healthy" = yes
kill "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
server_pid=
if [ "$healthy" != yes ]; then sed 's/^/  server: /' "$server_log"; fi
check "it stopped cleanly on SIGTERM" grep -q 'stopped' "$server_log"
check "database created in /var/lib/realms, owned by realms" \
  test "$(stat -c '%u' "$root/var/lib/realms/realms.db" 2>/dev/null)" = "$uid"
check "master.key created in /var/lib/realms, mode 600" \
  test "$(stat -c '%a %u' "$root/var/lib/realms/master.key" 2>/dev/null)" = "600 ${uid}"

# --- the env file documents every setting with its true default ---------------------------
echo "==> env file documentation"
effective_config() { as_service /usr/bin/realms config; }
# Settings shown commented out (`#REALMS_X=default`) and set ones (REALMS_DATA_DIR).
documented=$(sed -n 's/^#\{0,1\}\(REALMS_[A-Z0-9_]*\)=\(.*\)$/\1=\2/p' installers/deb/realms.env)
# Every key the server reports, as its environment variable name.
known=$(effective_config | python3 -c '
import json, sys
def walk(prefix, value):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from walk(prefix + ("__" if prefix != "REALMS_" else "") + key.upper(), inner)
    else:
        yield prefix
for name in walk("REALMS_", json.load(sys.stdin)):
    print(name)
' || true)
check "realms config prints the effective configuration ($(wc -w <<<"$known") keys)" test -n "$known"
undocumented=$(comm -23 <(sort <<<"$known") <(cut -d= -f1 <<<"$documented" | sort))
check "every configuration key is in realms.env${undocumented:+ (missing: ${undocumented//$'\n'/ })}" \
  test -z "$undocumented"
unknown=$(comm -13 <(sort <<<"$known") <(cut -d= -f1 <<<"$documented" | grep -vx REALMS_CONFIG | sort))
check "realms.env names no key the server lacks${unknown:+ (unknown: ${unknown//$'\n'/ })}" \
  test -z "$unknown"
# The documented values, all switched on (example paths and empty placeholders aside), must give
# exactly the built-in configuration.
defaults_env=$(grep -v -e '^REALMS_CONFIG=' -e '^REALMS_SQLITE_PATH=' -e '=$' <<<"$documented")
mapfile -t service_env <<<"$defaults_env"
with_documented=$(effective_config 2>&1 || true)
service_env=()
check "the documented defaults ($(wc -l <<<"$defaults_env") settings) are the server's defaults" \
  test "$with_documented" = "$(effective_config)"

# The maintenance command realms.env and the README show (no unit environment) finds the data.
maintenance_data_dir() {
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/var/lib/realms \
    chroot --userspec="${uid}:${gid}" "$root" sh -c \
    'set -a; . /etc/realms/realms.env; exec realms config' |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["data_dir"])'
}
check "a maintenance command with only realms.env uses /var/lib/realms" \
  test "$(maintenance_data_dir 2>/dev/null || true)" = /var/lib/realms

# --- reinstall keeps the administrator's edits ------------------------------------------
echo "==> reinstall"
echo 'REALMS_LOG=warn' >>"$root/etc/realms/realms.env"
touch "$root/var/lib/realms/keep-me"
check "dpkg -i over the installed package succeeds" dpkg_root -i /tmp/realms.deb
check "an edited env file survives a reinstall" grep -qx 'REALMS_LOG=warn' "$root/etc/realms/realms.env"
check "the data survives a reinstall" test -e "$root/var/lib/realms/keep-me"
check "the env file keeps root:realms 640 after a reinstall" \
  test "$(stat -c '%a %u:%g' "$root/etc/realms/realms.env")" = "640 0:${gid}"
check "one realms user after a reinstall" test "$(grep -c '^realms:' "$root/etc/passwd")" = 1

# --- remove and purge --------------------------------------------------------------------------
echo "==> remove"
check "dpkg -r succeeds" dpkg_root -r realms
check "status is config-files" test "$(status_of)" = "deinstall ok config-files"
check "the binary is gone" test ! -e "$root/usr/bin/realms"
check "the unit file is gone" test ! -e "${root}${unit_path}"
check "the env file stays after remove" test -f "$root/etc/realms/realms.env"
check "the data stays after remove" test -e "$root/var/lib/realms/realms.db"

echo "==> purge"
check "dpkg -P succeeds" dpkg_root -P realms
check "the package is gone from dpkg's database after purge" \
  test -z "$(status_of | grep -v '^unknown ok not-installed$')"
check "/etc/realms is gone" test ! -e "$root/etc/realms"
check "/var/lib/realms is gone" test ! -e "$root/var/lib/realms"
check "no statoverride remains" statoverride_gone
leftover=$(find "$root/etc/systemd" "$root/var/lib/systemd" -name 'realms*' 2>/dev/null || true)
check "no unit links or systemd state remain${leftover:+ (${leftover//$'\n'/ })}" test -z "$leftover"
check "the realms system user is kept (files it owns may remain elsewhere)" \
  grep -q '^realms:' "$root/etc/passwd"

# --- the unit ------------------------------------------------------------------------------------
# systemd-analyze looks ExecStart's binary up under --root, so verify against a root holding the
# package's files (installed again after the purge above).
echo "==> systemd unit"
# Installing again with only the `realms` group left (a user removed by hand): postinst must
# create the user in that group rather than fail on it.
sed -i '/^realms:/d' "$root/etc/passwd" "$root/etc/shadow"
check "dpkg -i after purge, with only the realms group left, succeeds" dpkg_root -i /tmp/realms.deb
uid=$(root_user_id realms)
check "the realms user is back (uid ${uid:-none}), in the existing group" \
  test -n "$uid" -a "$(passwd_field 4)" = "$gid"
verify_log=$(mktemp)
if SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --root="$root" realms.service >"$verify_log" 2>&1 &&
  [ ! -s "$verify_log" ]; then
  ok "systemd-analyze verify accepts realms.service"
else
  not_ok "systemd-analyze verify realms.service"
  sed 's/^/  verify: /' "$verify_log"
fi
rm -f "$verify_log"
exposure=$(systemd-analyze security --offline=true --root="$root" realms.service 2>/dev/null |
  sed -n 's/.*Overall exposure level for realms.service: \([0-9.]*\).*/\1/p')
check "unit exposure ${exposure:-unknown} is at most ${MAX_EXPOSURE} (systemd-analyze security)" \
  python3 -c 'import sys; sys.exit(0 if sys.argv[1] and float(sys.argv[1]) <= float(sys.argv[2]) else 1)' \
  "${exposure:-}" "$MAX_EXPOSURE"

# --- systemd starts the unit ----------------------------------------------------------------------
if [ "$boot_test" = 1 ]; then
  echo "==> boot the root with systemd-nspawn; systemd starts realms.service"
  boot_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  base="http://127.0.0.1:${boot_port}"
  # The container shares the host's network: the service listens on a free loopback port.
  echo "REALMS_ADDR=127.0.0.1:${boot_port}" >>"$root/etc/realms/realms.env"
  boot_log=$(mktemp)
  systemd-nspawn --quiet --register=no --keep-unit --machine="realms-deb-test-$$" \
    --directory="$root" --boot </dev/null >"$boot_log" 2>&1 &
  nspawn_pid=$!
  healthy=no
  for _ in $(seq 1 $((BOOT_WAIT_SECS * 2))); do
    if curl -fsS "${base}/healthz" >/dev/null 2>&1; then healthy=yes; break; fi
    kill -0 "$nspawn_pid" 2>/dev/null || break
    sleep 0.5
  done
  check "systemd started realms.service and it answers /healthz" test "$healthy" = yes
  container_init=$(ps -o pid= --ppid "$nspawn_pid" | head -n 1 | tr -d ' ')
  in_container() { nsenter --target "$container_init" --all "$@"; }
  if [ "$healthy" = yes ] && [ -n "$container_init" ]; then
    json='content-type: application/json'
    register_status=$(curl -s -o /dev/null -w '%{http_code}' "${base}/api/auth/register" -H "$json" \
      -d '{"username":"deb-test","email":"deb-test@example.invalid","password":"a long test password"}')
    check "registration answers 201 (password hashing, database writes)" test "$register_status" = 201
    login_status=$(curl -s -o /dev/null -w '%{http_code}' "${base}/api/auth/login" -H "$json" \
      -d '{"login":"deb-test","password":"a long test password"}')
    check "login answers 200" test "$login_status" = 200
    main_pid=$(in_container systemctl show realms.service -P MainPID)
    proc_status=$(in_container cat "/proc/${main_pid}/status" 2>/dev/null || true)
    proc_field() { awk -v f="$1:" '$1 == f {print $2}' <<<"$proc_status"; }
    check "the service runs as realms (uid ${uid})" test "$(proc_field Uid)" = "$uid"
    check "with no effective or bounding capabilities" \
      test "$(proc_field CapEff)/$(proc_field CapBnd)" = 0000000000000000/0000000000000000
    check "with no_new_privs" test "$(proc_field NoNewPrivs)" = 1
    check "under a seccomp filter" test "$(proc_field Seccomp)" = 2
    check "systemctl stop succeeds" in_container systemctl stop realms.service
    result=$(in_container systemctl show realms.service -P Result)
    exit_status=$(in_container systemctl show realms.service -P ExecMainStatus)
    check "the service stopped cleanly (result ${result}, exit status ${exit_status})" \
      test "${result}/${exit_status}" = success/0
    check "nothing restarted it (NRestarts 0)" \
      test "$(in_container systemctl show realms.service -P NRestarts)" = 0
  fi
  if [ "$healthy" != yes ]; then
    sed 's/^/  boot: /' "$boot_log" | tail -n 40
    journalctl --directory="$root/var/log/journal" --no-pager -u realms.service 2>/dev/null |
      tail -n 20 | sed 's/^/  journal: /' || true
  fi
  stop_container
  rm -f "$boot_log"
fi

check "final purge succeeds" dpkg_root -P realms

echo "server-deb: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]

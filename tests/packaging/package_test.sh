#!/usr/bin/env bash
# The Debian package `make package` builds (CPack, from the build folder
# BUILD), unpacked into a throwaway root: its binary runs from there, its
# control file names what it needs, its man page and unit are where systemd
# and man look, the unit passes `systemd-analyze verify`, and its maintainer
# scripts parse.
#   tests/packaging/package_test.sh BUILD
set -euo pipefail
build=$1
work=$(mktemp -d /tmp/georep-package-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "package_test: $*" >&2; exit 1; }

(cd "$build" && cpack -G DEB -B "$work/out" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log" >&2; fail "cpack failed"; }
debs=("$work"/out/georep_*.deb)
[[ ${#debs[@]} -eq 1 && -f ${debs[0]} ]] || fail "no georep_*.deb in $work/out"
deb=${debs[0]}
dpkg-deb -x "$deb" "$work/root"
dpkg-deb -e "$deb" "$work/control"
root=$work/root

# The binary, as installed.
version=$("$root/usr/bin/georep" --version) || fail "georep --version exited $?"
[[ $version == "georep $(dpkg-deb -f "$deb" Version)"* ]] || fail "--version said \"$version\""
[[ $("$root/usr/bin/georep" serve --help) == *GEOREP_DATABASE_MAIN* ]] || fail "serve --help names no setting"
set +e; "$root/usr/bin/georep" serve --no-such-option >/dev/null 2>&1; code=$?; set -e
[[ $code -eq 2 ]] || fail "a usage error exited $code, not 2"
# Stripped: a package, not a build tree.
[[ $(file "$root/usr/bin/georep") == *", stripped"* ]] || fail "the binary is not stripped"

# What it needs: the libraries it links (dpkg-shlibdeps) and the programs it runs.
depends=$(dpkg-deb -f "$deb" Depends)
for d in libpq5 libcurl4 libgit2 libsystemd0 git postgresql-client adduser; do
  [[ $depends == *"$d"* ]] || fail "Depends lacks $d: $depends"
done

# Its files where the system looks for them.
for f in usr/lib/systemd/system/georep.service usr/share/man/man1/georep.1.gz \
         usr/share/doc/georep/README.md usr/share/doc/georep/examples/georep.toml \
         usr/share/doc/georep/examples/redmine/georep.toml \
         usr/share/doc/georep/applications/redmine.md; do
  [[ -f $root/$f ]] || fail "no /$f"
done
[[ $(zcat "$root/usr/share/man/man1/georep.1.gz") == *serve* ]] || fail "the man page names no verb"
# The example configuration is one `georep` reads (its databases are not
# there: the check's verdict is FAIL, its first line OK).
checked=$("$root/usr/bin/georep" check --config "$root/usr/share/doc/georep/examples/georep.toml" 2>&1 || true)
[[ $checked == "configuration"*OK* ]] || fail "the example configuration does not parse: $checked"

# The unit, with its ExecStart pointed at the unpacked binary and man told
# where the page is.
sed "s|/usr/bin/georep|$root/usr/bin/georep|" "$root/usr/lib/systemd/system/georep.service" \
  >"$work/georep.service"
MANPATH=$root/usr/share/man systemd-analyze verify "$work/georep.service" ||
  fail "systemd-analyze verify refused the unit"
grep -q '^Type=notify' "$work/georep.service" || fail "the unit is not Type=notify"

for s in postinst prerm postrm; do
  [[ -x $work/control/$s ]] || fail "no executable $s"
  sh -n "$work/control/$s" || fail "$s does not parse"
done
echo "package_test: $(basename "$deb") ($(stat -c %s "$deb") bytes): OK"

#!/usr/bin/env bash
# Builds the Debian package target/debian/smpp-router_<version>_<arch>.deb with dpkg-deb:
#   /usr/bin/smpp-router                     the release binary (BIN=path: another build)
#   /etc/smpp-router/{router,routes}.toml    conffiles: production-style, TLS on, no stand-ins
#   /lib/systemd/system/smpp-router.service  hardened, `smpp-router check` before every start
#   /usr/share/doc/smpp-router/              README, the manual (docs/), examples, copyright
# postinst makes the system user smpp-router and /var/lib/smpp-router; purge removes the data.
# Prints the package's path.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
if [ -z "${BIN:-}" ]; then cargo build --release --quiet -p smpp-router-cli; fi
bin="${BIN:-$root/target/release/smpp-router}"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' cli/Cargo.toml | head -1)"
arch="$(dpkg --print-architecture)"
out="$root/target/debian"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/DEBIAN" "$stage/usr/bin" "$stage/etc/smpp-router" "$stage/lib/systemd/system" \
  "$stage/usr/share/doc/smpp-router/examples" "$out"
install -m 0755 "$bin" "$stage/usr/bin/smpp-router"
strip --strip-debug "$stage/usr/bin/smpp-router" 2>/dev/null || true
install -m 0640 "$here/router.toml" "$here/routes.toml" "$stage/etc/smpp-router/"
install -m 0644 "$here/smpp-router.service" "$stage/lib/systemd/system/"
install -m 0644 README.md ARCHITECTURE.md "$stage/usr/share/doc/smpp-router/"
install -d "$stage/usr/share/doc/smpp-router/docs"
install -m 0644 docs/*.md "$stage/usr/share/doc/smpp-router/docs/"
install -m 0644 examples/router.production.toml examples/routes.production.toml \
  examples/smpp-router@.service examples/grafana-dashboard.json examples/haproxy.cfg \
  "$stage/usr/share/doc/smpp-router/examples/"
cat > "$stage/usr/share/doc/smpp-router/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: smpp-router

Files: *
License: Apache-2.0
 On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.
COPYRIGHT
install -m 0755 "$here/postinst" "$here/prerm" "$here/postrm" "$stage/DEBIAN/"
printf '/etc/smpp-router/router.toml\n/etc/smpp-router/routes.toml\n' > "$stage/DEBIAN/conffiles"
size="$(du -sk --exclude=DEBIAN "$stage" | cut -f1)"
cat > "$stage/DEBIAN/control" <<CONTROL
Package: smpp-router
Version: $version
Architecture: $arch
Maintainer: smpp-router maintainers <maintainers@smpp-router.invalid>
Installed-Size: $size
Depends: libc6 (>= 2.34), libgcc-s1, adduser
Section: net
Priority: optional
Homepage: https://example.invalid/smpp-router
Description: edge SMPP router for SMS aggregators
 Aggregators bind over SMPP 3.4 or 5.0 and submit OTP and other SMS. Each
 message goes through a routing table edited live (routes.toml): first the
 iMessage OTP channel, then SMS carriers reached as an SMPP client when the
 recipient has no iMessage. Delivery receipts return to the client that sent
 the message; channel plugins add new channels.
CONTROL
deb="$out/smpp-router_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$stage" "$deb" >/dev/null
echo "$deb"

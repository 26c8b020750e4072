#!/bin/sh
# Regenerates the demo repository (testdata/demo-repo) byte for byte from
# testdata/demo-src, with the project's own tools and the test key in testdata/keys.
#
#   testdata/regen.sh [OUT_DIR]      (BIN=dir of apk and abuild-rs, default target/debug)
#
# Each demo-src/<name>/ holds PKGINFO (.PKGINFO fields), root/ (the files), optional
# install scripts (.post-install, ...) and an optional `modes` file ("MODE PATH" lines)
# for modes git does not keep.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${BIN:-$here/../target/debug}
out=${1:-$here/demo-repo}
arch=x86_64
key=$here/keys/apk-rs-demo.rsa
export SOURCE_DATE_EPOCH=1700000000
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$out/$arch"
mkdir -p "$out/$arch"
for src in "$here"/demo-src/*/; do
  src=${src%/}
  name=$(basename "$src")
  tree=$work/$name
  mkdir -p "$tree"
  [ -d "$src/root" ] && cp -R -P "$src/root/." "$tree/"
  # Modes from a checkout depend on the umask; fix them to 0755/0644 first.
  chmod -R a+rX,go-w "$tree"
  if [ -f "$src/modes" ]; then
    while read -r mode path; do chmod "$mode" "$tree/$path"; done < "$src/modes"
  fi
  ver=$(sed -n 's/^pkgver = //p' "$src/PKGINFO")
  set --
  for s in "$src"/.pre-* "$src"/.post-* "$src"/.trigger; do
    [ -f "$s" ] && set -- "$@" --script "$s"
  done
  "$bin/abuild-rs" pack --pkginfo "$src/PKGINFO" --root "$tree" "$@" \
    --sign-key "$key" -o "$out/$arch/$name-$ver.apk"
done
"$bin/apk" index -q --keys-dir "$here/keys" -d "apk-rs demo repository" -o "$out/$arch/APKINDEX.tar.gz" "$out/$arch"/*.apk
"$bin/abuild-rs" sign --key "$key" "$out/$arch/APKINDEX.tar.gz"

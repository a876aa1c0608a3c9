#!/usr/bin/env bash
# Build the source rock $BUILD/rock/walletsign-0.1.0-1.src.rock from the
# working tree, without network. A .src.rock is a zip of the rockspec and the
# source tarball; `luarocks install ./walletsign-0.1.0-1.src.rock` unpacks the
# tarball named by the rockspec's source.url (by its base name) from the rock
# itself and never fetches, so the rock installs anywhere.
#   scripts/make-rock.sh        (prints the rock's path)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
ROCKSPEC=walletsign-0.1.0-1.rockspec
NAME=walletsign-0.1.0               # the rockspec's source.dir
TARBALL=$NAME.tar.gz                # the rockspec's source.url
OUT=$BUILD/rock

grep -q "url = \"$TARBALL\"" "$ROCKSPEC" ||
  { echo "make-rock: $ROCKSPEC's source.url is not \"$TARBALL\"" >&2; exit 1; }

rm -rf "$OUT"; mkdir -p "$OUT/stage/$NAME" "$OUT/pack"
# What the rockspec builds from (csrc/cli is the CLI, not part of the rock).
tar -C "$ROOT" -cf - --exclude='*.o' --exclude=csrc/cli \
    "$ROCKSPEC" README.md CHANGELOG.md docs/openresty.md docs/quickstart-lua.md lua csrc |
  tar -C "$OUT/stage/$NAME" -xf -
# Same bytes for the same tree: sorted names, fixed owner and times, gzip -n.
tar -C "$OUT/stage" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    -cf - "$NAME" | gzip -n -9 >"$OUT/$TARBALL"

# luarocks pack fetches the source in a temporary directory, where the
# relative source.url does not resolve: it packs from a copy of the rockspec
# whose url is the tarball's absolute file:// path. The rockspec that goes
# into the rock is then the repository's own (url = the tarball's base name),
# so no path of this machine ends up in the rock.
sed "s#url = \"$TARBALL\"#url = \"file://$OUT/$TARBALL\"#" "$ROCKSPEC" >"$OUT/pack/$ROCKSPEC"
(cd "$OUT" && luarocks pack "pack/$ROCKSPEC") >"$OUT/pack.log" 2>&1 ||
  { echo "make-rock: luarocks pack failed (log: $OUT/pack.log)" >&2; tail -20 "$OUT/pack.log" >&2; exit 1; }
ROCK=$OUT/${ROCKSPEC%.rockspec}.src.rock
cp "$ROCKSPEC" "$OUT/stage/$ROCKSPEC"
(cd "$OUT/stage" && zip -q "$ROCK" "$ROCKSPEC")
rm -rf "$OUT/stage" "$OUT/pack"
echo "$ROCK"

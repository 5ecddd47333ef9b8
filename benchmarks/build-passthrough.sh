#!/bin/sh
# build-passthrough.sh OUTDIR - compile libfuse's passthrough_ll example from the copy that
# Debian's libfuse3-dev ships (/usr/share/doc/libfuse3-dev/examples, maybe gzipped) into
# OUTDIR/passthrough_ll, with pkg-config fuse3. Rebuilt only when missing.
set -eu
out=${1:?usage: build-passthrough.sh OUTDIR}
ex=/usr/share/doc/libfuse3-dev/examples
[ -x "$out/passthrough_ll" ] && exit 0
mkdir -p "$out/ptll-src"
for f in passthrough_ll.c passthrough_helpers.h; do
	if [ -f "$ex/$f" ]; then
		cp "$ex/$f" "$out/ptll-src/$f"
	elif [ -f "$ex/$f.gz" ]; then
		gzip -dc "$ex/$f.gz" >"$out/ptll-src/$f"
	else
		echo "build-passthrough.sh: $ex/$f not found (is libfuse3-dev installed?)" >&2
		exit 1
	fi
done
echo "  CC      $out/passthrough_ll (from $ex/passthrough_ll.c)"
# shellcheck disable=SC2046
${CC:-cc} -O2 -Wall -o "$out/passthrough_ll" "$out/ptll-src/passthrough_ll.c" \
	$(pkg-config fuse3 --cflags --libs)

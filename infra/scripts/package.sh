#!/bin/sh
# Builds the deployment package dist/entra-purge.zip: host.json, every <function>/function.json (purge/,
# sweep/) and the linux/amd64 static `handler` binary, at the zip's root, and nothing else (no local.settings.json, no sources, no secrets).
# Used by azd (azure.yaml prepackage hook) and by `make package`.
#
#   infra/scripts/package.sh [output.zip]      (default: dist/entra-purge.zip, relative to the repository root)
set -eu

root=$(CDPATH='' cd -- "$(dirname -- "$0")/../.." && pwd)
cd "$root"
out=${1:-dist/entra-purge.zip}
case $out in /*) ;; *) out="$root/$out" ;; esac

exe=$(sed -n 's/.*"defaultExecutablePath"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' host.json)
if [ "$exe" != "handler" ]; then
	echo "package.sh: host.json customHandler.description.defaultExecutablePath is '$exe', expected 'handler'" >&2
	exit 1
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT INT TERM

echo "package.sh: building handler (infra/scripts/build.sh: linux/amd64, static, stripped)"
sh "$root/infra/scripts/build.sh" "$stage/handler"

cp host.json "$stage/host.json"
found=0
for fj in */function.json; do
	[ -f "$fj" ] || continue
	fn=$(dirname "$fj")
	mkdir -p "$stage/$fn"
	cp "$fj" "$stage/$fn/function.json"
	found=$((found + 1))
done
if [ "$found" -eq 0 ]; then
	echo "package.sh: no <function>/function.json found" >&2
	exit 1
fi

mkdir -p "$(dirname "$out")"
rm -f "$out"
if command -v zip >/dev/null 2>&1; then
	# -X: no extra attributes; Unix modes are kept, so the handler stays executable.
	(cd "$stage" && zip -q -X -r "$out" .)
else
	python3 - "$stage" "$out" <<'PY'
import os, sys, zipfile
stage, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for d, _, files in os.walk(stage):
        for f in sorted(files):
            p = os.path.join(d, f)
            info = zipfile.ZipInfo(os.path.relpath(p, stage))
            info.external_attr = (os.stat(p).st_mode & 0xFFFF) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(p, "rb") as fh:
                z.writestr(info, fh.read())
PY
fi

echo "package.sh: wrote ${out#"$root"/}"
(cd "$stage" && find . -type f | sed 's|^\./|  |' | sort)

#!/usr/bin/env bash
# Write each ```c block of a Markdown file that starts with "/* example: NAME */"
# to OUTDIR/NAME.c, so the docs' examples are compiled and run, and cannot rot.
set -euo pipefail
md=$1 outdir=$2
mkdir -p "$outdir"
awk -v dir="$outdir" '
  /^```c$/ { inblock = 1; name = ""; next }
  /^```$/  { if (inblock && name != "") close(file); inblock = 0; next }
  inblock && name == "" && match($0, /^\/\* example: [a-z0-9_]+ \*\/$/) {
      name = $3; file = dir "/" name ".c"; printf "" > file }
  inblock && name != "" { print >> file }
' "$md"

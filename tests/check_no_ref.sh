#!/bin/sh
# check_no_ref.sh LIB... - fail if a library holds a CPU reference (kw_ref_*) symbol: the
# references are test code (the kwvk_ref library), never shipped in libkwvk. nm must list the
# library's own symbols (kwvk_net_create), so a failing nm cannot pass.
set -u
status=0
for lib in "$@"; do
    syms=$(nm "$lib" 2>/dev/null) || { echo "FAIL: nm $lib failed"; exit 1; }
    echo "$syms" | grep -q "kwvk_net_create" || { echo "FAIL: $lib: nm lists no kwvk_net_create"; exit 1; }
    refs=$(echo "$syms" | grep "kw_ref_")
    if [ -n "$refs" ]; then
        echo "FAIL: $lib holds reference code:"
        echo "$refs"
        status=1
    else
        echo "$lib: no reference code"
    fi
done
exit $status

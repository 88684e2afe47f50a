#!/usr/bin/env bash
# The pipe ceiling for one image: create it on the target, then `curl GET | curl PUT`.
# C tools and a kernel pipe, nothing in between: no listing, no check, no verification.
# The body is sent with its Content-Length (not chunked) and without `Expect: 100-continue`,
# as our tool sends it.
# usage: curl_pipe.sh SOURCE_URL TARGET_URL ID NAME SIZE [metaonly]
set -euo pipefail
src=$1 tgt=$2 id=$3 name=$4 size=$5 mode=${6:-data}
opts=(--noproxy '*' -sSf -o /dev/null)
curl "${opts[@]}" -H 'Content-Type: application/json' \
    -d "{\"id\":\"$id\",\"name\":\"$name\",\"disk_format\":\"raw\",\"container_format\":\"bare\"}" \
    "$tgt/v2/images"
[ "$mode" = metaonly ] && exit 0
curl --noproxy '*' -sSf "$src/v2/images/$id/file" \
    | curl "${opts[@]}" -X PUT -T - -H 'Content-Type: application/octet-stream' \
        -H "Content-Length: $size" -H 'Transfer-Encoding:' -H 'Expect:' "$tgt/v2/images/$id/file"

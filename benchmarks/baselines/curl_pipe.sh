#!/usr/bin/env bash
# The pipe ceiling for one image: create it on the target, then `curl GET | curl PUT`.
# C tools and a kernel pipe, nothing in between: no listing, no check, no verification.
# The body is sent with its Content-Length (not chunked) and without `Expect: 100-continue`,
# as our tool sends it.
# MODE: `data` (the copy), `metaonly` (the create only), or `upload-only`: no source at all, the
# body is the file $BENCH_PAYLOAD (in memory, /dev/shm): what the target alone can take.
# usage: curl_pipe.sh SOURCE_URL TARGET_URL ID NAME SIZE [MODE]
set -euo pipefail
src=$1 tgt=$2 id=$3 name=$4 size=$5 mode=${6:-data}
opts=(--noproxy '*' -sSf -o /dev/null)
put=(-X PUT -H 'Content-Type: application/octet-stream' -H 'Transfer-Encoding:' -H 'Expect:')
curl "${opts[@]}" -H 'Content-Type: application/json' \
    -d "{\"id\":\"$id\",\"name\":\"$name\",\"disk_format\":\"raw\",\"container_format\":\"bare\"}" \
    "$tgt/v2/images"
case $mode in
    metaonly) exit 0 ;;
    upload-only) exec curl "${opts[@]}" "${put[@]}" -T "$BENCH_PAYLOAD" "$tgt/v2/images/$id/file" ;;
esac
curl --noproxy '*' -sSf "$src/v2/images/$id/file" \
    | curl "${opts[@]}" "${put[@]}" -T - -H "Content-Length: $size" "$tgt/v2/images/$id/file"

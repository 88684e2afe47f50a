#!/usr/bin/env bash
# The pipe ceiling for one image: create it on the target, then `curl GET | curl PUT`.
# C tools and a kernel pipe, nothing in between: no listing, no check, no verification.
# The body is sent with its Content-Length (not chunked) and without `Expect: 100-continue`,
# as our tool sends it.
# MODE: `data` (the copy), `metaonly` (the create only), or `upload-only`: no source at all, the
# body is the file $BENCH_PAYLOAD (in memory, /dev/shm): what the target alone can take;
# `data-sha512`: the copy with the work ours does to verify it: the data hashed on its way
# (`tee` into `openssl dgst`, the OpenSSL code Python's hashlib runs) and checked against the
# source record's os_hash_value;
# `dump`: TARGET is a folder, and the image's record and data are written into it as
# `replicator dump` names them (ID and ID.img), unverified; `dump-sha512`: the same, hashed and
# checked on the way to the file.
# usage: curl_pipe.sh SOURCE_URL TARGET_URL ID NAME SIZE [MODE]
set -euo pipefail
src=$1 tgt=$2 id=$3 name=$4 size=$5 mode=${6:-data}
get=(curl --noproxy '*' -sSf)
opts=(--noproxy '*' -sSf -o /dev/null)
put=(-X PUT -H 'Content-Type: application/octet-stream' -H 'Transfer-Encoding:' -H 'Expect:')

# The sha512 the source records for the image, read from its record in file $1.
recorded_sha512() { grep -o '"os_hash_value": *"[0-9a-f]*"' "$1" | grep -o '[0-9a-f]\{128\}'; }
# The sha512 of standard input, in hex.
sha512() { local line; line=$(openssl dgst -sha512 -r); echo "${line%% *}"; }

case $mode in
    dump | dump-sha512)
        mkdir -p "$tgt"
        "${get[@]}" -o "$tgt/$id" "$src/v2/images/$id"
        if [ "$mode" = dump ]; then
            exec "${get[@]}" -o "$tgt/$id.img" "$src/v2/images/$id/file"
        fi
        [ "$("${get[@]}" "$src/v2/images/$id/file" | tee "$tgt/$id.img" | sha512)" = "$(recorded_sha512 "$tgt/$id")" ]
        exit ;;
esac
curl "${opts[@]}" -H 'Content-Type: application/json' \
    -d "{\"id\":\"$id\",\"name\":\"$name\",\"disk_format\":\"raw\",\"container_format\":\"bare\"}" \
    "$tgt/v2/images"
case $mode in
    metaonly) exit 0 ;;
    upload-only) exec curl "${opts[@]}" "${put[@]}" -T "$BENCH_PAYLOAD" "$tgt/v2/images/$id/file" ;;
    data-sha512)
        scratch=$(mktemp -d)
        trap 'rm -rf "$scratch"' EXIT
        "${get[@]}" -o "$scratch/record" "$src/v2/images/$id"
        mkfifo "$scratch/data"
        sha512 < "$scratch/data" > "$scratch/sha512" &
        "${get[@]}" "$src/v2/images/$id/file" | tee "$scratch/data" \
            | curl "${opts[@]}" "${put[@]}" -T - -H "Content-Length: $size" "$tgt/v2/images/$id/file"
        wait $!
        [ "$(cat "$scratch/sha512")" = "$(recorded_sha512 "$scratch/record")" ]
        exit ;;
esac
curl --noproxy '*' -sSf "$src/v2/images/$id/file" \
    | curl "${opts[@]}" "${put[@]}" -T - -H "Content-Length: $size" "$tgt/v2/images/$id/file"

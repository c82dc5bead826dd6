# Sourced by the scripts that run `./t2r serve` on loopback (serve-load.sh, harness-via-serve.sh):
#   serve_start LOG [serve options...]
# starts `./t2r serve --port 0 ...` in the background with its stderr in LOG, waits for its "listening on" line, and
# sets SERVER (the launcher's pid, stopped with SIGTERM when the calling script exits) and URL (http://127.0.0.1:P/).
serve_start() {
    local log=$1
    shift
    ./t2r serve --port 0 "$@" 2>"$log" &
    SERVER=$!
    trap 'kill -TERM $SERVER 2>/dev/null || true' EXIT
    URL=
    for _ in $(seq 600); do
        URL=$(grep -o 'listening on http://[^ ]*' "$log" | cut -d' ' -f3 || true)
        [ -n "$URL" ] && return 0
        kill -0 "$SERVER" 2>/dev/null || { cat "$log"; exit 1; }
        sleep 0.1
    done
    echo "the server did not start"
    cat "$log"
    exit 1
}

#!/usr/bin/env bash
# Downloads tinyshakespeare (karpathy/char-rnn's input.txt), checks its sha256, and stores it
# gzipped as data/tinyshakespeare.txt.gz. The one step in the project that uses the network.
set -euo pipefail
cd "$(dirname "$0")"
url=https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt
want=86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed
if [ -f tinyshakespeare.txt.gz ]; then
    echo "data/tinyshakespeare.txt.gz is already here"
    exit 0
fi
tmp=$(mktemp -d .fetch.XXXXXX) # removed whatever happens: a failed fetch leaves nothing behind
trap 'rm -rf "$tmp"' EXIT
if command -v curl >/dev/null; then curl -fsSL "$url" -o "$tmp/input.txt"
elif command -v wget >/dev/null; then wget -q "$url" -O "$tmp/input.txt"
else echo "fetch: needs curl or wget" >&2; exit 1
fi
got=$(sha256sum "$tmp/input.txt" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
    echo "fetch: sha256 mismatch (got $got, want $want); not keeping the file" >&2
    exit 1
fi
gzip -9 -c "$tmp/input.txt" > "$tmp/tinyshakespeare.txt.gz"
mv "$tmp/tinyshakespeare.txt.gz" tinyshakespeare.txt.gz
echo "data/tinyshakespeare.txt.gz: $(wc -c < "$tmp/input.txt") bytes of text"

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
mkdir -p tinyshakespeare
tmp=tinyshakespeare/input.txt.part
if command -v curl >/dev/null; then curl -fsSL "$url" -o "$tmp"
elif command -v wget >/dev/null; then wget -q "$url" -O "$tmp"
else echo "fetch: needs curl or wget" >&2; exit 1
fi
got=$(sha256sum "$tmp" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
    rm -f "$tmp"
    echo "fetch: sha256 mismatch (got $got, want $want); not keeping the file" >&2
    exit 1
fi
mv "$tmp" tinyshakespeare/input.txt
gzip -9 -c tinyshakespeare/input.txt > tinyshakespeare.txt.gz.part
mv tinyshakespeare.txt.gz.part tinyshakespeare.txt.gz
echo "data/tinyshakespeare.txt.gz: $(wc -c < tinyshakespeare/input.txt) bytes of text"

#!/usr/bin/env bash
# Regenerates the committed Rust code for the thrift IDL in this folder, with Debian's thrift-compiler
# (apt-get install thrift-compiler; 0.17). The generated readers pre-size a list by the length the peer
# declares; that is replaced with a growing Vec, so a forged length cannot make ferrotel allocate more
# than the input it actually sent (the string and container limits are set on the protocol too).
set -euo pipefail
cd "$(dirname "$0")"
out=../../src/receivers/common/thrift
mkdir -p "$out"
for idl in jaeger zipkincore; do
  thrift --gen rs -out "$out" "$idl.thrift"
  sed -i 's/Vec::with_capacity(list_ident.size as usize)/Vec::new()/g' "$out/$idl.rs"
done

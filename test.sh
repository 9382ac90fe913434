#!/usr/bin/env bash
# The whole test suite on a fresh machine (Rust, Python 3 and Node are all it needs first):
# installs the third-party peers the tests drive (.ci/install-peers: pip smpplib, npm smpp, and
# Debian's libnet-smpp-perl, kannel, redis-server and postgresql with apt-get, as root or through
# sudo), then runs every crate's tests. Arguments go to `cargo test` (`./test.sh --test trace`).
set -euo pipefail
cd "$(dirname "$0")"
.ci/install-peers
cargo test "$@"

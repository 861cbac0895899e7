#!/usr/bin/env bash
# Trunk's post_build hook (see Trunk.toml): builds the playground bundle into
# $TRUNK_STAGING_DIR/playground, in the same profile as the chat. The nested trunk reads the same
# Trunk.toml, so it runs this hook too; HEARTLINE_PLAYGROUND_BUILD stops the recursion there.
set -euo pipefail
[ -n "${HEARTLINE_PLAYGROUND_BUILD:-}" ] && exit 0
profile=()
[ "${TRUNK_PROFILE:-}" = release ] && profile=(--release)
HEARTLINE_PLAYGROUND_BUILD=1 exec trunk build "${profile[@]}" --offline \
  --dist "$TRUNK_STAGING_DIR/playground" --public-url /playground/ playground.html

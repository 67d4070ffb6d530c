#!/usr/bin/env bash
# Lays out target/demo-models/ the way `edgerec serve --models` reads it: the shipped MovieLens
# bundle under its model version (a symlink) and LATEST naming it. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(node -e "console.log(JSON.parse(require('fs').readFileSync('models/movielens-small/manifest.json','utf8')).manifest.model.version)")
mkdir -p target/demo-models
ln -sfn ../../models/movielens-small "target/demo-models/$version"
[ -f target/demo-models/LATEST ] || echo "$version" > target/demo-models/LATEST
echo "target/demo-models"

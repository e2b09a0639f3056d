#!/usr/bin/env bash
# A real serverless image build, daemon-less (buildah, chroot isolation), against the local hub on loopback.
# Run by test/cli/serverless-image.test.ts, which starts the hub and checks the extracted /models afterwards.
#
# Input (environment):
#   WORK            scratch directory (container storage, build cache mounts, exports); emptied at the end
#   HF_ENDPOINT     the local hub, http://127.0.0.1:PORT
#   HF_TOKEN_FILE   the hub's token (mode 0600): needed by the gated model, searched for in the image
#   MODELSCOPE_ENDPOINT, MS_TOKEN_FILE   the same for the ModelScope model (the local hub speaks both protocols)
#   PROJECTS_DIR    the test project files
#   NODE_BIN        the node binary put into the builder image (default: the node on PATH)
#   CI_CACHE        where the debootstrap base tarball is kept between runs
#                   (default: ${XDG_CACHE_HOME:-$HOME/.cache}/download-models-ci)
# Output: log lines "== [time] step", "CHECK ok: …", "RESULT key=value"; $WORK/image-models (a copy of the
# image's /models, symlinks kept). Exit code 0 only when every check passed.
set -euo pipefail

: "${WORK:?}" "${HF_ENDPOINT:?}" "${HF_TOKEN_FILE:?}" "${MODELSCOPE_ENDPOINT:?}" "${MS_TOKEN_FILE:?}" "${PROJECTS_DIR:?}"
NODE_BIN=${NODE_BIN:-$(command -v node)}
CI_CACHE=${CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/download-models-ci}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BASE=localhost/dm-ci-debian:bookworm
NODE_IMAGE=localhost/dm-ci-node:20
IMAGE=localhost/dm-ci/serverless:ci
NEG_IMAGE=localhost/dm-ci/serverless:no-token
BASE_TAR=$CI_CACHE/debian-bookworm-minbase.tar

T0=$(date +%s%N)
step() {
  local ms=$((($(date +%s%N) - T0) / 1000000))
  printf '== [%4d.%01ds] %s\n' $((ms / 1000)) $((ms % 1000 / 100)) "$*"
}
fail() {
  echo "CHECK FAILED: $*" >&2
  exit 1
}
ok() { echo "CHECK ok: $*"; }

mkdir -p "$WORK"/{cfg,tmp} "$CI_CACHE"
# Everything buildah keeps (images, layers, the builds' cache mounts under $TMPDIR/buildah-cache) stays in $WORK.
export TMPDIR=$WORK/tmp BUILDAH_ISOLATION=chroot
export CONTAINERS_STORAGE_CONF=$WORK/cfg/storage.conf
driver=vfs
d=$(mktemp -d "$WORK/ovl.XXXX") && mkdir -p "$d"/{l,u,w,m}
if mount -t overlay overlay -o "lowerdir=$d/l,upperdir=$d/u,workdir=$d/w" "$d/m" 2> /dev/null; then
  umount "$d/m" && driver=overlay
fi
rm -rf "$d"
cat > "$CONTAINERS_STORAGE_CONF" << EOF
[storage]
driver = "$driver"
runroot = "$WORK/run"
graphroot = "$WORK/storage"
EOF

containers=()
cleanup() {
  local rc=$?
  for c in "${containers[@]}"; do buildah rm "$c" > /dev/null 2>&1 || true; done
  buildah rm --all > /dev/null 2>&1 || true
  buildah rmi --all -f > /dev/null 2>&1 || true
  findmnt -rn -o TARGET | grep "^$WORK/" | sort -r | xargs -r -n1 umount -l 2> /dev/null || true
  rm -rf "$WORK/storage" "$WORK/run" "$WORK/tmp" "$WORK/archive" "$WORK/image.tar"
  [ $rc = 0 ] || echo "ci-build.sh FAILED (exit $rc)" >&2
}
trap cleanup EXIT
step "buildah $(buildah --version | cut -d' ' -f3), storage driver $driver, work dir $WORK"

# ---------------------------------------------------------------- the local base image (debootstrap, cached)
if [ ! -s "$BASE_TAR" ]; then
  step "debootstrap --variant=minbase bookworm (cached afterwards in $BASE_TAR)"
  R=$WORK/rootfs
  rm -rf "$R"
  debootstrap --variant=minbase bookworm "$R" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 ||
    { tail -20 "$WORK/debootstrap.log"; fail "debootstrap"; }
  chroot "$R" apt-get clean
  rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin "$R"/dev/* "$R"/tmp/* "$R"/var/log/*.log \
    "$R"/var/log/apt/* "$R"/etc/resolv.conf "$R"/etc/hostname
  tar --numeric-owner -C "$R" -cf "$BASE_TAR.partial" . && mv "$BASE_TAR.partial" "$BASE_TAR"
  rm -rf "$R"
else
  step "reusing the cached base $BASE_TAR"
fi
c=$(buildah from scratch)
buildah add "$c" "$BASE_TAR" / > /dev/null
buildah config --os linux --arch amd64 --cmd /bin/bash \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c"
buildah commit --rm -q "$c" "$BASE" > /dev/null
step "imported $BASE"

# ---------------------------------------------------------------- the builder's Node image: base + this node + npm
# The host's node must be self-contained (official or NodeSource build: only glibc and libstdc++), as in the
# node:20 images; npm is plain JavaScript.
if ldd "$NODE_BIN" | grep -Eq 'lib(node|uv|ssl|crypto|icu)'; then
  fail "$NODE_BIN links to shared libnode/libuv/openssl (a distribution build): use an official Node build (NODE_BIN=…)"
fi
NPM_DIR=$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)
c=$(buildah from --pull=false "$BASE")
buildah copy -q "$c" "$(readlink -f "$NODE_BIN")" /usr/local/bin/node > /dev/null
buildah copy -q "$c" "$NPM_DIR" /usr/local/lib/node_modules/npm > /dev/null
# The host's trust store: npm ci in the build reaches the registry through whatever TLS proxy this host trusts.
CA_BUNDLE=${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}
if [ -s "$CA_BUNDLE" ]; then
  buildah copy -q "$c" "$CA_BUNDLE" /etc/ssl/certs/ca-certificates.crt > /dev/null
  buildah config --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt "$c"
fi
buildah run "$c" -- sh -c 'ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm &&
  ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx && echo "node $(node --version), npm $(npm --version)"'
buildah commit --rm -q "$c" "$NODE_IMAGE" > /dev/null
step "made $NODE_IMAGE"

# ---------------------------------------------------------------- the build, as a user runs it
build() { # build IMAGE [options…]: build-serverless.sh with the local bases and the loopback hub
  local image=$1
  shift
  "$REPO/build-serverless.sh" --builder buildah --isolation chroot --network host \
    --base-image "$BASE" --node-image "$NODE_IMAGE" --projects-dir "$PROJECTS_DIR" \
    --build-arg "HF_ENDPOINT=$HF_ENDPOINT" --build-arg "MODELSCOPE_ENDPOINT=$MODELSCOPE_ENDPOINT" --image "$image" "$@"
}
# The build follows a lockfile: made here against the hub, then the image must hold exactly its commits.
LOCK=$WORK/models.lock.json
step "download-models lock --project ci-voice,ci-gated --lockfile $LOCK"
HF_TOKEN=$(cat "$HF_TOKEN_FILE") MODELSCOPE_API_TOKEN=$(cat "$MS_TOKEN_FILE") "$NODE_BIN" "$REPO/bin/download-models.js" lock \
  --project ci-voice,ci-gated --projects-dir "$PROJECTS_DIR" --lockfile "$LOCK" > "$WORK/lock.log" || { cat "$WORK/lock.log"; fail "download-models lock"; }
set +e
build "$NEG_IMAGE" --project ci-voice,ci-needs-token --lockfile "$LOCK" > "$WORK/unlocked.log" 2>&1
rc=$?
set -e
[ "$rc" = 2 ] && grep -q 'not in the lock' "$WORK/unlocked.log" || { cat "$WORK/unlocked.log"; fail "a project the lock lacks was not refused before the build (exit $rc)"; }
ok "a selection the lock does not pin is refused before any build (exit 2, the --frozen message)"

step "build-serverless.sh --project ci-voice --project ci-gated --lockfile (token from a file)"
b0=$(date +%s)
build "$IMAGE" --project ci-voice,ci-gated --lockfile "$LOCK" --hf-token-file "$HF_TOKEN_FILE" --ms-token-file "$MS_TOKEN_FILE" 2>&1 | tee "$WORK/build.log" ||
  fail "build-serverless.sh failed"
b1=$(date +%s)
ok "image built in $((b1 - b0))s"
echo "RESULT build_seconds=$((b1 - b0))"
grep -q '^Baked models' "$WORK/build.log" || fail "the build's summary lists no baked models"
size=$(buildah images --format '{{.Size}}' "$IMAGE")
base_size=$(buildah images --format '{{.Size}}' "$BASE")
echo "RESULT image_size=$size base_size=$base_size"

# ---------------------------------------------------------------- checks inside the image
step "checks inside the image"
config=$(buildah inspect --type image "$IMAGE")
for e in HF_HOME=/models/huggingface HF_HUB_OFFLINE=1 MODELSCOPE_CACHE=/models/modelscope; do
  grep -q "\"$e\"" <<< "$config" || fail "image env lacks $e"
done
grep -q '"org.opencontainers.image.revision": "[0-9a-f]\{7,\}' <<< "$config" || fail "no revision label"
ok "image env: HF_HOME=/models/huggingface HF_HUB_OFFLINE=1 MODELSCOPE_CACHE=/models/modelscope; revision label"

c=$(buildah from --pull=false "$IMAGE")
containers+=("$c")
[ -z "$(buildah run "$c" -- sh -c 'command -v node || true' 2> /dev/null)" ] || fail "node is in the final image (the base has none)"
buildah run "$c" -- download-models-check | tee "$WORK/check.log"
grep -q 'ok: .* files re-hashed, all match' "$WORK/check.log" || fail "download-models-check did not re-hash"
ok "download-models-check passes in the image (no Node there)"
buildah run "$c" -- download-models-check --list > "$WORK/list.log"
for id in dm-ci/tiny-voice dm-ci/multi-format dm-ci/gated-speaker dm-ci/sv_model.v2; do
  grep -q " $id@" "$WORK/list.log" || fail "$id is not listed as baked"
done
! grep -q 'dm-ci/not-baked' "$WORK/list.log" || fail "a model of an unselected project was baked"
ok "download-models-check --list names the 4 selected models and not the unselected one"
buildah run "$c" -- test -s /models/.download-models/lock.json || fail "the image records no lock entries"
for commit in $(sed -n 's/^ *"commit": "\([^"]*\)".*/\1/p' "$LOCK"); do
  grep -q " $commit .* locked$" "$WORK/list.log" || fail "--list does not show the locked commit $commit"
done
! grep -q 'NOT THE LOCKED COMMIT' "$WORK/list.log" || fail "a baked model is not at its locked commit"
ok "the image records its lock entries; --list shows each locked commit"
m=$(buildah mount "$c")
rm -rf "$WORK/image-models"
cp -a "$m/models" "$WORK/image-models"
[ ! -e "$m/runpod-volume" ] && [ ! -e "$m/workspace" ] || fail "the image has /runpod-volume or /workspace"
buildah umount "$c" > /dev/null
ok "/models copied out to $WORK/image-models; nothing under /runpod-volume or /workspace"

# The check must notice a corrupt file of the right size.
c2=$(buildah from --pull=false "$IMAGE")
containers+=("$c2")
buildah run "$c2" -- sh -c 'f=$(grep "safetensors$" /models/.download-models/SIZES | head -n1 | cut -d" " -f2-) &&
  printf X | dd of="/models/$f" bs=1 seek=100 conv=notrunc status=none'
buildah run "$c2" -- download-models-check --quick > /dev/null || fail "--quick should pass: the size is unchanged"
if buildah run "$c2" -- download-models-check > "$WORK/corrupt.log" 2>&1; then fail "download-models-check missed a flipped byte"; fi
grep -q 'FAILED' "$WORK/corrupt.log" || fail "no FAILED line for the flipped byte"
ok "download-models-check fails on a flipped byte ($(grep -c 'FAILED' "$WORK/corrupt.log") FAILED lines)"

# ---------------------------------------------------------------- a rebuild reuses the build's model cache
# --no-cache runs every step again, as a code change does from the COPY of the sources on: the download step
# skips every model, complete in the build's cache mount, without a single request to the hub.
step "rebuild with --no-cache"
b0=$(date +%s)
build "$IMAGE" --project ci-voice,ci-gated --lockfile "$LOCK" --hf-token-file "$HF_TOKEN_FILE" --ms-token-file "$MS_TOKEN_FILE" --no-cache \
  > "$WORK/rebuild.log" 2>&1 || { tail -n 30 "$WORK/rebuild.log"; fail "the rebuild failed"; }
b1=$(date +%s)
grep -E '^Summary: 0 downloaded, 4 skipped, 0 failed' "$WORK/rebuild.log" || fail "the rebuild did not skip the 4 models"
ok "rebuild in $((b1 - b0))s: every step ran again, the 4 models were skipped (build cache mount)"
echo "RESULT rebuild_seconds=$((b1 - b0))"

# ---------------------------------------------------------------- the token is nowhere
step "search every layer, config, manifest and history of the image, and the build storage, for the token"
buildah push -q "$IMAGE" "docker-archive:$WORK/image.tar:$IMAGE" > /dev/null
mkdir -p "$WORK/archive" && tar -C "$WORK/archive" -xf "$WORK/image.tar"
layers=0
for layer in $(find "$WORK/archive" -name '*.tar'); do
  layers=$((layers + 1))
  mkdir -p "$layer.d" && tar -C "$layer.d" -xf "$layer" 2> /dev/null || true
done
[ "$layers" -gt 0 ] || fail "no layers in the exported image"
history=$(buildah inspect --type image --format '{{.Docker.History}}' "$IMAGE")
for token_file in "$HF_TOKEN_FILE" "$MS_TOKEN_FILE"; do
  token=$(cat "$token_file")
  if grep -rlaF -- "$token" "$WORK/archive"; then fail "a token is in the exported image (files above)"; fi
  ! grep -qF -- "$token" <<< "$history$config" || fail "a token is in the image history or config"
  # Intermediate (builder stage) layers and the cache mounts stay on the build machine: they must be clean too.
  if grep -rlaF -- "$token" "$WORK/storage" "$WORK/tmp" 2> /dev/null; then fail "a token is in the build storage (files above)"; fi
done
ok "both tokens (HF, ModelScope) absent from $layers layers (unpacked), config, manifest, history, builder layers and cache mounts"
rm -rf "$WORK/archive" "$WORK/image.tar"

# ---------------------------------------------------------------- a model that needs a token, without one
step "build-serverless.sh --project ci-needs-token without a token: must fail, nothing tagged"
set +e
build "$NEG_IMAGE" --project ci-needs-token > "$WORK/neg.log" 2>&1
rc=$?
set -e
grep -E '^ *FAILED|^Summary' "$WORK/neg.log" || true
[ "$rc" = 5 ] || fail "expected exit code 5 (build failed), got $rc"
if buildah images --format '{{.Name}}:{{.Tag}}' | grep -qF "$NEG_IMAGE"; then fail "$NEG_IMAGE exists after a failed build"; fi
ok "the build without a token failed with exit code 5 and left no image"

step "ALL OK"

#!/usr/bin/env bash
# Build (and, with --push, push) a RunPod serverless image with the models of your projects baked in.
# Non-interactive: it never prompts. Tokens reach the build only as secret files, never on a command line.
# Run ./build-serverless.sh --help; DEPLOYMENT.md explains the workflow.
set -euo pipefail

readonly E_USAGE=2 E_NO_BUILDER=3 E_NO_SECRETS=4 E_BUILD=5 E_PUSH=6 E_INSPECT=7

usage() {
  cat <<'EOF'
Usage: ./build-serverless.sh [options] [<dockerhub-user> [<tag>]]

Downloads the models of the chosen projects with download-models, verifies them, and puts them under /models of
an image based on your worker image (HF_HOME=/models/huggingface, HF_HUB_OFFLINE=1, MODELSCOPE_CACHE=
/models/modelscope; check them in the image with download-models-check).
By default no container daemon is needed (it works inside a RunPod Pod): `download-models image` adds one layer
per model to the base and pushes only the layers the registry lacks; without --push it writes an OCI image
layout (--oci-dir). --builder docker|podman|buildah builds Dockerfile.serverless instead (one /models layer).
The image is <dockerhub-user>/<name>:<tag>, or --image. Nothing is pushed without --push.

Options:
  -p, --project NAME       bake this project's models (repeatable, or a,b); default: every project (--all)
      --projects-dir DIR   project files from DIR instead of projects/ (repeatable)
      --lockfile FILE      the models.lock.json to build from (default: the one beside the (first) projects folder,
                           if any); with a lock the build downloads --frozen: exactly the locked commits and files
  -t, --tag TAG            image tag (default: the git commit, e.g. 4005b85 or 4005b85-dirty; avoid "latest")
      --name NAME          image name after the user (default: runpod-models)
      --image REF          the full image reference (registry/user/name:tag); replaces user, name and tag
      --platform P         target platform (default: linux/amd64, RunPod's; needed on Apple Silicon)
      --base-image IMG     the final stage's base: your worker image (default: runpod/base:0.6.2-cuda12.2.0)
      --node-image IMG     the builder stage's Node 20.18–24 image (default: node:24-bookworm-slim)
      --hf-token-file F    HuggingFace token file (default: $HF_TOKEN, written to a mode-0600 temp file)
      --ms-token-file F    ModelScope token file (default: $MODELSCOPE_API_TOKEN, likewise)
      --builder B          image (daemon-less, the default when node and node_modules are here), or docker
                           (needs buildx), podman, buildah for Dockerfile.serverless; else the first found
      --cache-dir DIR      image builder: where models are downloaded and kept between builds (--root of
                           download-models; default: its usual cache, the network volume in a Pod)
      --oci-dir DIR        image builder without --push: the OCI image layout to write (default: ./serverless-image)
      --insecure           image builder: allow plain HTTP to a registry that is not on this machine
      --registry-user U    image builder: log in to the registry as U, the password read from standard input
      --build-arg K=V      passed to the build (repeatable), e.g. HF_ENDPOINT=https://hf-mirror.com
      --network MODE       build network, e.g. host to reach an endpoint on this machine's loopback
      --isolation MODE     podman/buildah isolation (default: the builder's; chroot when no OCI runtime is found)
      --no-cache           do not reuse cached layers (models already in the build's model cache are still skipped)
      --push               push the image when the build and its checks pass
  -n, --dry-run            print the build command (secrets as file paths, never their values) and exit
  -h, --help               this help

Examples:
  ./build-serverless.sh myuser v1                       # the old call: myuser/runpod-models:v1, every project
  ./build-serverless.sh --project tts --base-image myuser/tts-worker:3 --image myuser/tts:3-models --push
  HF_TOKEN=hf_... ./build-serverless.sh --project tts --platform linux/amd64 myuser

Exit codes: 0 ok, 2 usage error, unknown project, or a lockfile that does not pin the selection as declared, 3 no builder found, 4 the builder cannot pass build secrets
(docker without buildx/BuildKit), 5 the build failed (e.g. a model failed to download; nothing was pushed),
6 the push failed, 7 the image was built but could not be inspected.
EOF
}

# A command line a user can paste: words quoted only when they need it.
print_command() {
  local out= word
  for word in "$@"; do
    if [[ "$word" =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then out+="$word "; else out+="'${word//\'/\'\\\'\'}' "; fi
  done
  echo "${out% }"
}

die() { # die CODE MESSAGE
  echo "build-serverless: $2" >&2
  exit "$1"
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
projects=() projects_dirs=() build_args=() positional=()
lockfile= tag= name=runpod-models image= platform=linux/amd64 base_image= node_image= hf_token_file= ms_token_file=
builder= network= isolation= no_cache=0 push=0 dry_run=0 cache_dir= oci_dir= insecure=0 registry_user= staged=0

need_value() { [ $# -ge 2 ] && [ -n "$2" ] || die $E_USAGE "$1 needs a value (see --help)"; }
while [ $# -gt 0 ]; do
  case "$1" in
    -p | --project) need_value "$@"; IFS=, read -r -a names <<< "$2"; projects+=("${names[@]}"); shift 2 ;;
    --projects-dir) need_value "$@"; projects_dirs+=("$2"); shift 2 ;;
    --lockfile) need_value "$@"; lockfile=$2; shift 2 ;;
    -t | --tag) need_value "$@"; tag=$2; shift 2 ;;
    --name) need_value "$@"; name=$2; shift 2 ;;
    --image) need_value "$@"; image=$2; shift 2 ;;
    --platform) need_value "$@"; platform=$2; shift 2 ;;
    --base-image) need_value "$@"; base_image=$2; shift 2 ;;
    --node-image) need_value "$@"; node_image=$2; shift 2 ;;
    --hf-token-file) need_value "$@"; hf_token_file=$2; shift 2 ;;
    --ms-token-file) need_value "$@"; ms_token_file=$2; shift 2 ;;
    --builder) need_value "$@"; builder=$2; shift 2 ;;
    --cache-dir) need_value "$@"; cache_dir=$2; shift 2 ;;
    --oci-dir) need_value "$@"; oci_dir=$2; shift 2 ;;
    --insecure) insecure=1; shift ;;
    --registry-user) need_value "$@"; registry_user=$2; shift 2 ;;
    --build-arg) need_value "$@"; build_args+=("$2"); shift 2 ;;
    --network) need_value "$@"; network=$2; shift 2 ;;
    --isolation) need_value "$@"; isolation=$2; shift 2 ;;
    --no-cache) no_cache=1; shift ;;
    --push) push=1; shift ;;
    -n | --dry-run) dry_run=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; positional+=("$@"); break ;;
    -*) die $E_USAGE "unknown option $1 (see --help)" ;;
    *) positional+=("$1"); shift ;;
  esac
done

# ---- the image reference
[ ${#positional[@]} -le 2 ] || die $E_USAGE "too many arguments: ${positional[*]} (expected <dockerhub-user> [<tag>])"
user=${positional[0]:-}
[ -z "${positional[1]:-}" ] || { [ -z "$tag" ] || die $E_USAGE "the tag is given twice (argument and --tag)"; tag=${positional[1]}; }
if [ -z "$tag" ]; then
  if commit=$(git -C "$here" rev-parse --short HEAD 2> /dev/null); then
    git -C "$here" diff --quiet HEAD 2> /dev/null || commit="$commit-dirty"
    tag=$commit
  else
    tag=$(date -u +%Y%m%d-%H%M%S)
  fi
fi
if [ -z "$image" ]; then
  [ -n "$user" ] || die $E_USAGE "name the image: ./build-serverless.sh <dockerhub-user> [<tag>], or --image REF (see --help)"
  image="$user/$name:$tag"
elif [ -n "$user" ]; then
  die $E_USAGE "give either <dockerhub-user> or --image, not both"
fi
[[ "$image" =~ ^[a-z0-9]([a-z0-9._/:@-]*[a-zA-Z0-9_.-])?$ ]] || die $E_USAGE "\"$image\" is not a valid image reference"
[ "${image##*:}" != latest ] || echo "build-serverless: warning: RunPod workers may keep a cached :latest; prefer a version tag" >&2

for arg in "${build_args[@]}"; do
  [[ "$arg" == *=* ]] || die $E_USAGE "--build-arg $arg: expected KEY=VALUE"
  key=${arg%%=*}
  if [[ "${key^^}" =~ TOKEN|SECRET|PASSWORD ]]; then
    die $E_USAGE "--build-arg $key: build args are stored in the image history; pass tokens with --hf-token-file / --ms-token-file or HF_TOKEN / MODELSCOPE_API_TOKEN"
  fi
done

# ---- the builder
have_tool() { command -v node > /dev/null 2>&1 && [ -d "$here/node_modules" ]; }
if [ -z "$builder" ] && have_tool; then builder=image; fi
if [ -z "$builder" ]; then
  for b in docker podman buildah; do
    if command -v "$b" > /dev/null 2>&1; then builder=$b; break; fi
  done
  [ -n "$builder" ] || die $E_NO_BUILDER "no image builder found: install Docker (with buildx), podman or buildah, or Node >= 20.18 and run npm ci here for the daemon-less builder"
fi
case "$builder" in image | docker | podman | buildah) ;; *) die $E_USAGE "--builder $builder: expected image, docker, podman or buildah" ;; esac
if [ "$builder" = image ]; then
  have_tool || die $E_NO_BUILDER "the image builder runs download-models here: install Node >= 20.18 and run npm ci in $here"
  [ -z "$isolation" ] || die $E_USAGE "--isolation is for podman and buildah"
  [ -z "$node_image" ] || die $E_USAGE "--node-image is for --builder docker, podman or buildah (the image builder runs this checkout)"
elif [ -n "$cache_dir$oci_dir$registry_user" ] || [ "$insecure" = 1 ]; then
  die $E_USAGE "--cache-dir, --oci-dir, --registry-user and --insecure are for the image builder (the default)"
fi
if [ "$dry_run" = 0 ] && [ "$builder" != image ]; then
  command -v "$builder" > /dev/null 2>&1 || die $E_NO_BUILDER "$builder is not installed (or not on PATH)"
  if [ "$builder" = docker ] && ! docker buildx version > /dev/null 2>&1; then
    die $E_NO_SECRETS "docker here has no buildx (BuildKit), so it cannot pass build secrets or cache mounts; install the docker-buildx plugin, or use --builder podman / buildah"
  fi
fi
if [ -n "$isolation" ] && [ "$builder" = docker ]; then die $E_USAGE "--isolation is for podman and buildah"; fi
if [ -z "$isolation" ] && [ "$builder" = buildah ] && [ -z "${BUILDAH_ISOLATION:-}" ] &&
  ! command -v runc > /dev/null 2>&1 && ! command -v crun > /dev/null 2>&1; then
  isolation=chroot # no OCI runtime to run the RUN steps with
fi

# ---- the projects: validated here, with the tool, so that a typo fails before any build
[ -f "$here/Dockerfile.serverless" ] || die $E_USAGE "Dockerfile.serverless not found next to this script ($here)"
dir_args=()
for d in "${projects_dirs[@]}"; do
  [ -d "$d" ] || die $E_USAGE "--projects-dir $d: not a directory"
  dir_args+=(--projects-dir "$(cd "$d" && pwd)")
done
# download-models reads ./projects of the working directory by default; this script means the checkout's.
[ ${#dir_args[@]} -gt 0 ] || dir_args=(--projects-dir "$here/projects")
for p in "${projects[@]}"; do [[ "$p" =~ ^[A-Za-z0-9._-]+$ ]] || die $E_USAGE "--project \"$p\": not a project name"; done
if command -v node > /dev/null 2>&1 && [ -d "$here/node_modules" ]; then
  if ! listing=$(node "$here/bin/download-models.js" list --json "${dir_args[@]}" 2>&1); then
    printf '%s\n' "$listing" >&2
    die $E_USAGE "the project files do not load (see above)"
  fi
  known=$(printf '%s' "$listing" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).projects.map(p=>p.name).join(" ")))')
  [ -n "$known" ] || die $E_USAGE "no projects found (${projects_dirs[*]:-projects/}): nothing to bake"
  for p in "${projects[@]}"; do
    [[ " $known " == *" $p "* ]] || die $E_USAGE "unknown project \"$p\"; available: ${known// /, }"
  done
else
  echo "build-serverless: warning: node or node_modules missing here (run npm ci): project names are checked by the build only" >&2
fi

# ---- the lockfile: beside the (first) projects folder, as for download-models; the build then runs --frozen
if [ -n "$lockfile" ]; then
  [ -f "$lockfile" ] || die $E_USAGE "--lockfile $lockfile: no such file (create it with: download-models lock)"
  lockfile="$(cd "$(dirname "$lockfile")" && pwd)/$(basename "$lockfile")"
else
  first_dir=$here/projects
  [ ${#projects_dirs[@]} -eq 0 ] || first_dir=$(cd "${projects_dirs[0]}" && pwd)
  [ ! -f "$(dirname "$first_dir")/models.lock.json" ] || lockfile=$(dirname "$first_dir")/models.lock.json
fi
if [ -n "$lockfile" ] && command -v node > /dev/null 2>&1 && [ -d "$here/node_modules" ]; then
  # The check --frozen makes in the build, here and before any build: no request, the same message.
  select_args=(--all)
  [ ${#projects[@]} -eq 0 ] || select_args=(--project "$(IFS=,; echo "${projects[*]}")")
  node "$here/bin/download-models.js" lock --check "${select_args[@]}" "${dir_args[@]}" --lockfile "$lockfile" > /dev/null ||
    die $E_USAGE "$lockfile does not pin the selection as declared (see above); nothing was built"
fi

# ---- temp files: secrets and the staged project files, removed on exit
tmp=
cleanup() {
  [ -z "$tmp" ] || rm -rf "$tmp"
  # Only what this run staged: another build in the same checkout may be using its own.
  [ "$staged" = 0 ] || rm -rf "$here/.build-serverless"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
make_tmp() { [ -n "$tmp" ] || { tmp=$(umask 077 && mktemp -d "${TMPDIR:-/tmp}/build-serverless.XXXXXX"); }; }

secret_args=() secret_notes=()
add_secret() { # add_secret ID FILE_OPTION FILE ENV_NAME
  local id=$1 option=$2 file=$3 var=$4
  if [ -n "$file" ]; then
    [ -r "$file" ] && [ -s "$file" ] || die $E_USAGE "$option $file: not a readable, non-empty file"
    secret_args+=(--secret "id=$id,src=$(cd "$(dirname "$file")" && pwd)/$(basename "$file")")
  elif [ -n "${!var:-}" ]; then
    if [ "$dry_run" = 1 ]; then
      secret_args+=(--secret "id=$id,src=${TMPDIR:-/tmp}/build-serverless.XXXXXX/$id")
    else
      make_tmp
      # printf is a bash builtin: the value never appears on a process command line.
      (umask 077 && printf '%s' "${!var}" > "$tmp/$id")
      secret_args+=(--secret "id=$id,src=$tmp/$id")
    fi
    secret_notes+=("$id: from \$$var, in a mode-0600 temp file removed on exit")
  fi
}
add_secret hf_token --hf-token-file "$hf_token_file" HF_TOKEN
add_secret ms_token --ms-token-file "$ms_token_file" MODELSCOPE_API_TOKEN

# ---- the daemon-less path: download-models image (one layer per model on the base; only missing layers pushed)
if [ "$builder" = image ]; then
  qualified=$image
  img=(node "$here/bin/download-models.js" image)
  if [ ${#projects[@]} -eq 0 ]; then img+=(--all); else img+=(--project "$(IFS=,; echo "${projects[*]}")"); fi
  img+=("${dir_args[@]}")
  [ -z "$lockfile" ] || img+=(--lockfile "$lockfile" --frozen)
  [ -z "$cache_dir" ] || img+=(--root "$cache_dir")
  img+=(--platform "$platform" --base "${base_image:-runpod/base:0.6.2-cuda12.2.0}" --note "projects: ${projects[*]:-all}")
  commit_arg=$(git -C "$here" rev-parse --short HEAD 2> /dev/null || echo unknown)
  git -C "$here" diff --quiet HEAD 2> /dev/null || commit_arg="$commit_arg-dirty"
  img+=(--note "download-models checkout $commit_arg")
  [ "$insecure" = 0 ] || img+=(--insecure)
  [ -z "$registry_user" ] || img+=(--registry-user "$registry_user")
  if [ "$push" = 1 ]; then img+=(--push "$qualified"); else img+=(--output "oci:${oci_dir:-$PWD/serverless-image}:$tag"); fi
  # Endpoints (mirrors, a test hub) reach the tool as environment variables; nothing else is a build arg here.
  img_env=()
  for arg in "${build_args[@]}"; do
    case "${arg%%=*}" in
      HF_ENDPOINT | MODELSCOPE_ENDPOINT) img_env+=("$arg") ;;
      *) die $E_USAGE "--build-arg ${arg%%=*}: the image builder takes only HF_ENDPOINT and MODELSCOPE_ENDPOINT (others are for --builder docker|podman|buildah)" ;;
    esac
  done
  if [ "$dry_run" = 1 ]; then
    echo "# build-serverless: dry run, builder image (no daemon), image $qualified"
    for note in "${secret_notes[@]}"; do echo "# secret $note (read by download-models from its environment, never put in the image)"; done
    print_command env "${img_env[@]}" "${img[@]}"
    exit 0
  fi
  # Tokens go to the tool through its environment only (bash assignments: never on a command line).
  hf_value=${HF_TOKEN:-} ms_value=${MODELSCOPE_API_TOKEN:-}
  [ -z "$hf_token_file" ] || hf_value=$(< "$hf_token_file")
  [ -z "$ms_token_file" ] || ms_value=$(< "$ms_token_file")
  start=$(date +%s)
  echo "build-serverless: building $qualified with download-models image (projects: ${projects[*]:-all}, platform $platform)"
  status=0
  HF_TOKEN=$hf_value MODELSCOPE_API_TOKEN=$ms_value env "${img_env[@]}" "${img[@]}" || status=$?
  [ "$status" = 0 ] || die $E_BUILD "the image build failed (see above: a model that failed to download or verify, or the registry refused it)"
  echo
  echo "Image:    $qualified"
  echo "Built in: $(($(date +%s) - start))s with download-models image (no daemon), platform $platform"
  if [ "$push" = 1 ]; then echo "Pushed:   $qualified"; else echo "Not pushed (add --push): OCI layout ${oci_dir:-$PWD/serverless-image}, tag $tag (skopeo copy oci:DIR:$tag docker://REF)"; fi
  exit 0
fi

projects_dir_arg=()
if [ ${#projects_dirs[@]} -gt 0 ] || [ -n "$lockfile" ]; then
  # The build context is this checkout (.dockerignore keeps it small): other project folders, and the lockfile
  # (as projects/models.lock.json, which the Dockerfile looks for), are staged into it.
  stage=.build-serverless/projects
  projects_dir_arg=(--build-arg "PROJECTS_DIR=$stage")
  [ ${#projects_dirs[@]} -gt 0 ] || projects_dirs=("$here/projects")
  if [ "$dry_run" = 0 ]; then
    staged=1
    rm -rf "$here/.build-serverless" && mkdir -p "$here/$stage"
    [ -z "$lockfile" ] || cp "$lockfile" "$here/$stage/models.lock.json"
    for d in "${projects_dirs[@]}"; do
      for f in "$d"/*; do
        [ -f "$f" ] || continue
        [ ! -e "$here/$stage/$(basename "$f")" ] || die $E_USAGE "two project folders have a file named $(basename "$f")"
        cp "$f" "$here/$stage/"
      done
    done
  fi
fi

# ---- the build command
qualified=$image
if [ "$builder" != docker ] && [[ "${image%%/*}" != *[.:]* ]] && [ "${image%%/*}" != localhost ] && [[ "$image" == */* ]]; then
  qualified="docker.io/$image" # podman/buildah would otherwise store a short name as localhost/...
fi
host_platform() {
  local arch
  case "$(uname -m)" in x86_64) arch=amd64 ;; aarch64 | arm64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
  echo "linux/$arch"
}
cmd=()
case "$builder" in
  docker) cmd=(docker buildx build --load --progress=plain) ;;
  podman | buildah) cmd=("$builder" build --layers --build-arg "BUILDPLATFORM=$(host_platform)") ;;
esac
[ -z "$isolation" ] || cmd+=(--isolation "$isolation")
cmd+=(--platform "$platform" -f "$here/Dockerfile.serverless" -t "$qualified")
[ -z "$network" ] || cmd+=(--network "$network")
[ "$no_cache" = 0 ] || cmd+=(--no-cache)
[ -z "$base_image" ] || cmd+=(--build-arg "BASE_IMAGE=$base_image")
[ -z "$node_image" ] || cmd+=(--build-arg "NODE_IMAGE=$node_image")
[ ${#projects[@]} -eq 0 ] || cmd+=(--build-arg "PROJECTS=$(IFS=,; echo "${projects[*]}")")
cmd+=("${projects_dir_arg[@]}")
commit_arg=$(git -C "$here" rev-parse --short HEAD 2> /dev/null || echo unknown)
git -C "$here" diff --quiet HEAD 2> /dev/null || commit_arg="$commit_arg-dirty"
cmd+=(--build-arg "DOWNLOAD_MODELS_COMMIT=$commit_arg")
for arg in "${build_args[@]}"; do cmd+=(--build-arg "$arg"); done
cmd+=("${secret_args[@]}" "$here")


if [ "$dry_run" = 1 ]; then
  echo "# build-serverless: dry run, builder $builder, image $qualified"
  [ ${#projects_dirs[@]} -eq 0 ] || echo "# project files from ${projects_dirs[*]} are copied to $here/${stage} first"
  [ -z "$lockfile" ] || echo "# lockfile $lockfile is copied to $here/${stage}/models.lock.json: the download runs --frozen"
  for note in "${secret_notes[@]}"; do echo "# secret $note"; done
  print_command "${cmd[@]}"
  if [ "$push" = 1 ]; then
    case "$builder" in
      buildah) print_command buildah push "$qualified" "docker://$qualified" ;;
      *) print_command "$builder" push "$qualified" ;;
    esac
  fi
  exit 0
fi

start=$(date +%s)
echo "build-serverless: building $qualified with $builder (projects: ${projects[*]:-all}, platform $platform)"
if ! "${cmd[@]}"; then
  die $E_BUILD "the build failed (see above: a model that failed to download or verify fails it); nothing was pushed"
fi
seconds=$(($(date +%s) - start))

# ---- what was built: size and the baked models, read from the image without running it
baked=/models/.download-models/baked.txt
case "$builder" in
  docker | podman)
    size=$("$builder" image inspect --format '{{.Size}}' "$qualified") || die $E_INSPECT "cannot inspect $qualified"
    command -v numfmt > /dev/null 2>&1 && size=$(numfmt --to=si --suffix=B "$size")
    cid=$("$builder" create --platform "$platform" "$qualified" /bin/true) || die $E_INSPECT "cannot create a container of $qualified"
    models=$("$builder" cp "$cid:$baked" - | tar -xO) || { "$builder" rm "$cid" > /dev/null; die $E_INSPECT "cannot read $baked"; }
    "$builder" rm "$cid" > /dev/null
    ;;
  buildah)
    size=$(buildah images --format '{{.Size}}' "$qualified" | head -n1) || die $E_INSPECT "cannot inspect $qualified"
    cid=$(buildah from --pull=false "$qualified") || die $E_INSPECT "cannot create a working container of $qualified"
    # shellcheck disable=SC2016
    read_baked='m=$(buildah mount "$1") && cat "$m$2"; s=$?; buildah umount "$1" > /dev/null; exit $s'
    if [ "$(id -u)" = 0 ]; then models=$(sh -c "$read_baked" _ "$cid" "$baked"); else models=$(buildah unshare sh -c "$read_baked" _ "$cid" "$baked"); fi ||
      { buildah rm "$cid" > /dev/null; die $E_INSPECT "cannot read $baked"; }
    buildah rm "$cid" > /dev/null
    ;;
esac

if [ "$push" = 1 ]; then
  echo "build-serverless: pushing $qualified"
  case "$builder" in
    buildah) buildah push "$qualified" "docker://$qualified" || die $E_PUSH "the push of $qualified failed (logged in? buildah login docker.io)" ;;
    *) "$builder" push "$qualified" || die $E_PUSH "the push of $qualified failed (logged in? $builder login)" ;;
  esac
fi

echo
echo "Image:    $qualified"
echo "Size:     $size (every new worker host pulls it before its first request: the cold start)"
echo "Built in: ${seconds}s with $builder, platform $platform"
echo "Baked models (source id@revision commit files bytes path under /models):"
printf '%s\n' "$models" | sed -n '/^#/d; s/^/  /p'
if [ "$push" = 1 ]; then echo "Pushed:   $qualified"; else echo "Not pushed (add --push)."; fi

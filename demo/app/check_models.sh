#!/bin/sh
# The worker's start-up model load, in POSIX sh so it runs in a busybox image.
# It really reads the files: config.json must name a model_type, and
# model.safetensors must be a safetensors file (8-byte little-endian header
# length, a JSON header starting with "{", then at least that many bytes).
# Without any loadable model it dies like the real worker did in the outage.
JA_DIR=${LEARNING_MACHINE_STUDENT_JA_DIR:-/app/learning_machine/artifacts/student/v0_ja}
EN_DIR=${LEARNING_MACHINE_STUDENT_EN_DIR:-/app/learning_machine/artifacts/student/v0_en}

load_model() {
  name=$1
  dir=$2
  if [ ! -d "$dir" ]; then
    echo "warning: $name: $dir does not exist" >&2
    return 1
  fi
  cfg=$dir/config.json
  st=$dir/model.safetensors
  if ! grep -q '"model_type"' "$cfg" 2>/dev/null; then
    echo "warning: $name: $cfg is missing or not a model config" >&2
    return 1
  fi
  if [ ! -r "$st" ]; then
    echo "warning: $name: $st is missing" >&2
    return 1
  fi
  # shellcheck disable=SC2046
  set -- $(od -An -v -tu1 -N8 "$st")
  if [ $# -ne 8 ] || [ "$5$6$7$8" != 0000 ]; then
    echo "warning: $name: $st is not a safetensors file (bad header length)" >&2
    return 1
  fi
  header_len=$(( $1 + $2 * 256 + $3 * 65536 + $4 * 16777216 ))
  first=$(dd if="$st" bs=1 skip=8 count=1 2>/dev/null)
  size=$(wc -c < "$st")
  size=${size##* }
  if [ "$first" != "{" ] || [ "$size" -lt $((8 + header_len)) ]; then
    echo "warning: $name: $st is not a safetensors file (bad header)" >&2
    return 1
  fi
  echo "loaded $name from $dir ($size bytes)"
  return 0
}

loaded=0
if load_model student/v0_ja "$JA_DIR"; then loaded=$((loaded + 1)); fi
if load_model student/v0_en "$EN_DIR"; then loaded=$((loaded + 1)); fi
if [ "$loaded" -eq 0 ]; then
  echo "Traceback (most recent call last):" >&2
  echo '  File "/app/learning_machine/worker.py", line 42, in load_models' >&2
  echo "RuntimeError: At least one model (JA or EN) must be loaded" >&2
  exit 1
fi
echo "ml-worker ready: $loaded model(s) loaded"

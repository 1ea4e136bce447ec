#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The include graph of design.md runs one way:
#   core <- backend/{cpu,cuda} <- moe, plan, semantic, diffusion <- io <- edit <- examples, CLI
# and a detail:: name is used only inside its own folder. Fails (exit 1) listing every violation.
set -euo pipefail
root="$(realpath "${1:?usage: check_layering.sh <include dir>}")/beacon"
status=0
report() { echo "layering: $*"; status=1; }
# Known exceptions, each with its reason; the list only shrinks. The semantic module's fused
# cross-entropy and vector kernels have CPU and CUDA overloads (taking `const cpu&` / `const cuda&`)
# beside the generic path over the backend contract, in the same headers, so those files include
# their concrete backend.
allowed_concrete=(semantic/vectors.hpp semantic/reweighted_loss.hpp semantic/reweighted_loss.cuh)
is_allowed() {
  local rel="${1#"$root"/}" a
  for a in "${allowed_concrete[@]}"; do [ "$rel" = "$a" ] && return 0; done
  return 1
}

rank() {  # the layer of a folder under include/beacon
  case "$1" in
    core) echo 0 ;; backend) echo 1 ;; moe|plan|semantic|diffusion) echo 2 ;; io|interop) echo 3 ;; edit) echo 4 ;; *) echo 5 ;;
  esac
}
folder_of() {  # include/beacon/<folder>/... -> folder; top-level umbrella headers -> "umbrella"
  local rel="${1#"$root"/}"
  case "$rel" in */*) echo "${rel%%/*}" ;; *) echo umbrella ;; esac
}

while IFS= read -r file; do
  from=$(folder_of "$file")
  [ "$from" = umbrella ] && continue
  while IFS= read -r inc; do
    target=$(realpath -m "$(dirname "$file")/$inc")
    case "$target" in "$root"/*) ;; *) continue ;; esac
    to=$(folder_of "$target")
    [ "$to" = umbrella ] && { report "$file includes the umbrella $inc"; continue; }
    if [ "$(rank "$to")" -gt "$(rank "$from")" ]; then report "$file ($from) includes $inc ($to): an arrow back up"; fi
    if [ "$(rank "$to")" -eq 2 ] && [ "$(rank "$from")" -eq 2 ] && [ "$to" != "$from" ]; then
      report "$file ($from) includes another module's header $inc ($to)"
    fi
    if [ "$from" != backend ] && [ "$to" = backend ] && echo "$inc" | grep -Eq '/(cpu|cuda)(/|\.)' && ! is_allowed "$file"; then
      report "$file ($from) includes a concrete backend: $inc (take the backend as a template parameter)"
    fi
  done < <(grep -oE '^#include "[^"]+"' "$file" | sed -E 's/#include "([^"]+)"/\1/')
done < <(find "$root" -type f \( -name '*.hpp' -o -name '*.cuh' \))

# detail:: names of another folder: a qualified beacon::<ns>::detail:: or <ns>::detail:: call
while IFS= read -r file; do
  from=$(folder_of "$file")
  for ns in moe plan semantic diffusion io; do
    [ "$from" = "$ns" ] && continue
    if grep -nE "(^|[^a-z_])${ns}::detail::" "$file" >/dev/null; then report "$file ($from) uses ${ns}::detail:: $(grep -nE "(^|[^a-z_])${ns}::detail::" "$file" | head -1)"; fi
  done
done < <(find "$root" -type f \( -name '*.hpp' -o -name '*.cuh' \))

# Core's argument checks are public (beacon::fail, beacon::require_extent, beacon::concat,
# beacon::require_same_shape): modules converted to public names must not reach into beacon::detail.
# plan/, semantic/ and diffusion/ still spell them beacon::detail:: (the backend-contract issue).
public_only=(moe io edit)
for folder in "${public_only[@]}"; do
  while IFS= read -r file; do
    if grep -nE "(beacon::detail::|(^|[^a-z_:])detail::(fail|concat|require_extent|require_same_shape)\b)" "$file" | grep -v "^\s*//" >/dev/null; then
      report "$file uses a beacon::detail:: name: $(grep -nE "(beacon::detail::|(^|[^a-z_:])detail::(fail|concat|require_extent|require_same_shape)\b)" "$file" | head -1)"
    fi
  done < <(find "$root/$folder" -type f \( -name '*.hpp' -o -name '*.cuh' \))
done

# Programs built on the library (examples, the CLI) use public names only.
examples="$(dirname "$root")/../examples"
if [ -d "$examples" ]; then
  while IFS= read -r hit; do report "a program uses a library detail:: name: $hit"; done < <(grep -rnE "(beacon|moe|plan|semantic|diffusion|io)::detail::" "$examples" || true)
fi

[ $status -eq 0 ] && echo "layering: the include graph runs one way; no detail:: name crosses a folder (known exceptions: ${allowed_concrete[*]})"
exit $status

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every source file of the project carries the license identifier in its first lines (LICENSE:
# Apache-2.0). Fails listing the files without one.
set -euo pipefail
root="${1:?usage: check_spdx.sh <project root>}"
missing=0
while IFS= read -r f; do
  if ! head -n 3 "$f" | grep -q "SPDX-License-Identifier: Apache-2.0"; then
    echo "spdx: $f has no 'SPDX-License-Identifier: Apache-2.0' line"
    missing=$((missing + 1))
  fi
done < <(cd "$root" && find include tests examples bench scripts cmake .ci -type f \
           \( -name '*.hpp' -o -name '*.cuh' -o -name '*.cpp' -o -name '*.cu' -o -name '*.py' -o -name '*.sh' \
              -o -name 'CMakeLists.txt' -o -name '*.cmake' -o -name 'run' \) -not -path '*/data/*' | sed "s|^|$root/|")
[ "$missing" -eq 0 ] && echo "spdx: every source file carries the Apache-2.0 identifier"
exit $((missing > 0))

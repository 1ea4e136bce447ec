# SPDX-License-Identifier: Apache-2.0
"""Independent reader of the safetensors format (json + numpy only), for tests/cpu/checkpoint_test.cpp.

Prints one line per tensor: name, dtype, shape, and the float64 sum of its elements. Exit 77 when
numpy is missing (Debian's python3-numpy)."""
import json
import struct
import sys

try:
    import numpy as np
except ImportError as e:  # pragma: no cover
    print(f"numpy not available: {e}")
    sys.exit(77)

with open(sys.argv[1], "rb") as f:
    raw = f.read()
(n,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8 : 8 + n].decode("utf-8"))
data = raw[8 + n :]
kinds = {"F32": "<f4", "F64": "<f8", "I32": "<i4", "I64": "<i8"}
meta = header.pop("__metadata__", {})
print("metadata", " ".join(sorted(meta)))
for name in sorted(header):
    t = header[name]
    b, e = t["data_offsets"]
    arr = np.frombuffer(data[b:e], dtype=kinds[t["dtype"]]).reshape(t["shape"])
    print(name, t["dtype"], "x".join(str(s) for s in t["shape"]) or "scalar", repr(float(arr.astype(np.float64).sum())))

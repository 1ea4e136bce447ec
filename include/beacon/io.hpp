// SPDX-License-Identifier: Apache-2.0
#pragma once
// Files: atomic writes, .npy arrays, safetensors, and adaptor checkpoints (format beacon.moe.adaptor/2).

#include "io/adaptor_checkpoint.hpp"
#include "io/atomic_file.hpp"
#include "io/json.hpp"
#include "io/npy.hpp"
#include "io/read_file.hpp"
#include "io/safetensors.hpp"

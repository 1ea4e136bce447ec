// SPDX-License-Identifier: Apache-2.0
#pragma once
// Semantic PEFT building blocks: distances, semantic vectors, drift/interference diagnostics,
// data filtering and the semantic re-weighted cross-entropy.

#include "semantic/distance.hpp"
#include "semantic/drift.hpp"
#include "semantic/filtering.hpp"
#include "semantic/reweighted_loss.hpp"
#include "semantic/vectors.hpp"

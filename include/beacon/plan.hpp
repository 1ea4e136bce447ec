// SPDX-License-Identifier: Apache-2.0
#pragma once
// Clustering-based editing-order planning (LEMoE §4.3): k-means and the batch planner.

#include "plan/edit_order.hpp"
#include "plan/kmeans.hpp"
#include "plan/kmeans_init.hpp"

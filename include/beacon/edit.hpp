// SPDX-License-Identifier: Apache-2.0
#pragma once
// Lifelong editing as a library: edit records (ZsRE format), the host-model concept, edit streams and
// orders (random or clustering-planned), the adaptor editing loop and its scores.

#include "edit/host.hpp"
#include "edit/metrics.hpp"
#include "edit/order.hpp"
#include "edit/record.hpp"
#include "edit/runner.hpp"
#include "edit/zsre.hpp"

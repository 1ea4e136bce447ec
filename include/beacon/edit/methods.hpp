// SPDX-License-Identifier: Apache-2.0
#pragma once
// The registry of adaptor editing methods: one line per method (each defined in edit/methods/).

#include <string>
#include <vector>

#include "method.hpp"
#include "methods/lemoe.hpp"
#include "methods/lemoe_anchors.hpp"
#include "methods/lemoe_instance_anchors.hpp"
#include "methods/lemoe_replay.hpp"
#include "methods/moe_gate.hpp"

namespace beacon::edit {

/// Every adaptor method for hosts of type H on backend B, in the order of the results table.
template <host_model H, class B>
std::vector<adaptor_method<H, B>> adaptor_methods() {
  return {
      methods::moe_gate<H, B>(false),
      methods::moe_gate<H, B>(true),
      methods::lemoe<H, B>(false),
      methods::lemoe<H, B>(true),
      methods::lemoe_replay<H, B>(),
      methods::lemoe_anchors<H, B>(false),
      methods::lemoe_anchors<H, B>(true),
      methods::lemoe_instance_anchors<H, B>(false),
      methods::lemoe_instance_anchors<H, B>(true),
  };
}

}  // namespace beacon::edit

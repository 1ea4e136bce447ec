// SPDX-License-Identifier: Apache-2.0
#pragma once
// The registry of editing methods: one line per method (each defined in edit/methods/).

#include <string>
#include <vector>

#include "method.hpp"
#include "methods/ft.hpp"
#include "methods/lemoe.hpp"
#include "methods/lemoe_anchors.hpp"
#include "methods/lemoe_centroid_keys.hpp"
#include "methods/lemoe_instance_anchors.hpp"
#include "methods/lemoe_replay.hpp"
#include "methods/moe_gate.hpp"

namespace beacon::edit {

/// Every editing method for hosts of type H on backend B, in the order of the results table: ft
/// (only for hosts that expose their block, edit::block_host), then the adaptor methods.
template <host_model H, class B>
std::vector<editing_method<H, B>> editing_methods() {
  std::vector<editing_method<H, B>> all = {
      methods::moe_gate<H, B>(false),
      methods::moe_gate<H, B>(true),
      methods::lemoe<H, B>(false),
      methods::lemoe<H, B>(true),
      methods::lemoe_replay<H, B>(),
      methods::lemoe_anchors<H, B>(false),
      methods::lemoe_anchors<H, B>(true),
      methods::lemoe_centroid_keys<H, B>(methods::key_batches::random),
      methods::lemoe_centroid_keys<H, B>(methods::key_batches::planned),
      methods::lemoe_centroid_keys<H, B>(methods::key_batches::whole_clusters),
      methods::lemoe_instance_anchors<H, B>(false),
      methods::lemoe_instance_anchors<H, B>(true),
  };
  if constexpr (block_host<H, B>) all.insert(all.begin(), methods::ft<H, B>());
  return all;
}

}  // namespace beacon::edit

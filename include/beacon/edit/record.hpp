// SPDX-License-Identifier: Apache-2.0
#pragma once
// One knowledge edit in the ZsRE / EasyEdit / MEND record format: the edit prompt `src` whose answer
// changes from `pred` (what the host model knows) to `alt`, a paraphrase `rephrase` of the prompt that
// should follow the edit (generality), and an unrelated question `loc` whose answer `loc_ans` must
// not change (locality).

#include <string>

namespace beacon::edit {

struct edit_record {
  std::string src, pred, rephrase, alt, loc, loc_ans;
};

}  // namespace beacon::edit

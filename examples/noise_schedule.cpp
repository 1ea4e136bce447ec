// SPDX-License-Identifier: Apache-2.0
// Per-token alpha_bar of InfoDiffusion's entropy-aware schedule for one sentence: informative words
// keep their signal longer ("keyinfo-first"), function words lose it early.
#include <beacon/diffusion.hpp>

#include <cstdio>
#include <string>
#include <vector>

int main() {
  using namespace beacon::diffusion;
  // A toy corpus over a 9-word vocabulary (0 = [PAD], 1 = [CLS], 2 = [SEP]).
  const std::vector<std::string> vocab = {"[PAD]", "[CLS]", "[SEP]", "the", "a", "to", "go", "school", "geologist"};
  corpus_statistics stats(static_cast<beacon::size_type>(vocab.size()));
  const std::vector<std::vector<beacon::index_type>> corpus = {
      {1, 3, 4, 5, 6, 2}, {1, 3, 5, 3, 6, 2}, {1, 4, 3, 7, 2}, {1, 3, 6, 5, 3, 2}, {1, 8, 5, 6, 2}};
  for (const auto& s : corpus) stats.add_sentence(s);

  const std::vector<beacon::index_type> sentence = {1, 3, 8, 6, 5, 3, 7, 2};  // [CLS] the geologist go to the school [SEP]
  std::vector<std::uint8_t> special(sentence.size());
  for (std::size_t i = 0; i < sentence.size(); ++i) special[i] = sentence[i] <= 2;
  const auto e = normalised_information(token_information(stats, sentence), special);

  const beacon::size_type steps = 2000;
  const info_schedule schedule(steps, {.lambda = 0.5});
  std::printf("InfoDiffusion schedule, T = %lld, lambda = 0.5: alpha_bar per token\n\n%-10s %7s", static_cast<long long>(steps), "token", "e");
  const beacon::size_type shown[] = {0, 250, 500, 1000, 1500, 1999};
  for (auto k : shown) std::printf("  k=%-6lld", static_cast<long long>(k));
  std::printf("\n");
  for (std::size_t i = 0; i < sentence.size(); ++i) {
    std::printf("%-10s %+7.3f", vocab[static_cast<std::size_t>(sentence[i])].c_str(), e[i]);
    for (auto k : shown) std::printf("  %-8.3g", schedule.alpha_bar(k, e[i]));
    std::printf("\n");
  }
  std::printf("\nspecial tokens have e = 0 and follow the base curve 1 - t/T.\n");
  return 0;
}

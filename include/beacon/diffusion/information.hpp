// SPDX-License-Identifier: Apache-2.0
#pragma once
// Per-token information H(w) and its per-sentence normalisation e(w), the input of InfoDiffusion's
// entropy-aware schedule:  e(w_i) = (H(w_i) - mean_j H(w_j)) / (max_j H(w_j) - min_j H(w_j)).
//
// Conventions (spec infodiffusion.md §2.2, pinned by tests):
// - H is unigram self-information with add-one smoothing, H(w) = -ln((c(w) + 1) / (N + V + 1)), so
//   unseen words are finite and the most informative; TF-IDF and caller-supplied scores plug in too.
// - j ranges over the sentence's non-special tokens ([PAD]/[CLS]/[SEP] are excluded and get e = 0).
// - max = min (all tokens equally informative, or a single token) gives e = 0: never divide by zero.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "../core/config.hpp"
#include "../core/error.hpp"

namespace beacon::diffusion {

/// Token and document frequencies of a corpus of token-id sentences over a vocabulary of size V.
class corpus_statistics {
 public:
  explicit corpus_statistics(size_type vocab_size) : counts_(check_vocab(vocab_size)), doc_freq_(counts_.size()) {}

  /// Adds one sentence (a document for TF-IDF); ids must lie in [0, V).
  void add_sentence(std::span<const index_type> ids) {
    std::vector<index_type> seen;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const index_type w = ids[i];
      if (w < 0 || static_cast<std::size_t>(w) >= counts_.size())
        beacon::detail::fail("corpus_statistics::add_sentence", "ids",
                             beacon::detail::concat("token ids in [0, ", counts_.size(), ")"),
                             beacon::detail::concat(w, " at position ", i));
      ++counts_[static_cast<std::size_t>(w)];
      seen.push_back(w);
    }
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (index_type w : seen) ++doc_freq_[static_cast<std::size_t>(w)];
    tokens_ += static_cast<std::int64_t>(ids.size());
    ++documents_;
  }

  [[nodiscard]] size_type vocab_size() const noexcept { return static_cast<size_type>(counts_.size()); }
  [[nodiscard]] std::int64_t tokens() const noexcept { return tokens_; }
  [[nodiscard]] std::int64_t documents() const noexcept { return documents_; }
  [[nodiscard]] std::int64_t count(index_type w) const { return counts_.at(static_cast<std::size_t>(w)); }

  /// H(w) = -ln((c(w) + 1) / (N + V + 1)) (natural log; e does not depend on the base).
  [[nodiscard]] double self_information(index_type w) const {
    const double c = static_cast<double>(count(w));
    return -std::log((c + 1.0) / (static_cast<double>(tokens_) + static_cast<double>(counts_.size()) + 1.0));
  }

  /// Smoothed inverse document frequency: ln((1 + D) / (1 + df(w))) + 1 (scikit-learn's default).
  [[nodiscard]] double idf(index_type w) const {
    return std::log((1.0 + static_cast<double>(documents_)) /
                    (1.0 + static_cast<double>(doc_freq_.at(static_cast<std::size_t>(w))))) + 1.0;
  }

 private:
  static std::size_t check_vocab(size_type v) {
    if (v < 1) beacon::detail::fail("corpus_statistics", "vocab_size", ">= 1", v);
    return static_cast<std::size_t>(v);
  }
  std::vector<std::int64_t> counts_;
  std::vector<std::int64_t> doc_freq_;
  std::int64_t tokens_ = 0;
  std::int64_t documents_ = 0;
};

enum class information_measure {
  self_information,  ///< -ln p(w), add-one smoothed (default)
  tf_idf,            ///< (count of w in the sentence / sentence length) * idf(w)
};

/// H for each token of one sentence; `special` marks tokens excluded from the statistics (their H
/// is still computed but ignored by normalised_information).
inline std::vector<double> token_information(const corpus_statistics& stats, std::span<const index_type> ids,
                                             information_measure measure = information_measure::self_information) {
  std::vector<double> h(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= stats.vocab_size())
      beacon::detail::fail("token_information", "ids", beacon::detail::concat("token ids in [0, ", stats.vocab_size(), ")"),
                           beacon::detail::concat(ids[i], " at position ", i));
    if (measure == information_measure::self_information) {
      h[i] = stats.self_information(ids[i]);
    } else {
      const auto tf = static_cast<double>(std::count(ids.begin(), ids.end(), ids[i])) / static_cast<double>(ids.size());
      h[i] = tf * stats.idf(ids[i]);
    }
  }
  return h;
}

/// e per token of one sentence from its information scores h (any measure, or caller-supplied
/// per-vocabulary scores gathered for the sentence). special[i] != 0 excludes token i (e = 0).
inline std::vector<double> normalised_information(std::span<const double> h, std::span<const std::uint8_t> special = {}) {
  if (!special.empty() && special.size() != h.size())
    beacon::detail::fail<shape_error>("normalised_information", "special", beacon::detail::concat("size ", h.size()),
                                      special.size());
  double sum = 0, lo = std::numeric_limits<double>::infinity(), hi = -lo;
  std::size_t counted = 0;
  for (std::size_t i = 0; i < h.size(); ++i) {
    if (!special.empty() && special[i]) continue;
    if (!std::isfinite(h[i]))
      beacon::detail::fail("normalised_information", "h", "finite scores", beacon::detail::concat(h[i], " at position ", i));
    sum += h[i];
    lo = std::min(lo, h[i]);
    hi = std::max(hi, h[i]);
    ++counted;
  }
  std::vector<double> e(h.size(), 0.0);
  if (counted == 0 || hi == lo) return e;
  const double mean = sum / static_cast<double>(counted), range = hi - lo;
  for (std::size_t i = 0; i < h.size(); ++i)
    if (special.empty() || !special[i]) e[i] = (h[i] - mean) / range;
  return e;
}

}  // namespace beacon::diffusion

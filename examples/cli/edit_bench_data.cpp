// SPDX-License-Identifier: Apache-2.0
// `beacon edit-bench` data: the embedded synthetic knowledge base (ZsRE-shaped records; files are read
// by beacon::edit::load_zsre).
#include <algorithm>
#include <set>

#include <beacon/core/error.hpp>
#include <beacon/core/philox.hpp>

#include "cli_common.hpp"
#include "edit_bench.hpp"

namespace beacon::cli::edit_bench {

namespace {

struct relation {
  std::vector<const char*> templates;  // [0] = the edit prompt, the rest paraphrases; "{}" = entity
  std::vector<std::string> answers;
};
struct topic {
  const char* kind;  // prefix of entity names ("" for persons)
  std::vector<relation> relations;
};

const char* syllables[] = {"ka", "lo", "ren", "vi", "dar", "mes", "tu", "bel", "or", "san", "gri", "po", "lin", "fa", "zen", "mo",
                           "ter", "qui", "ash", "nel", "dro", "ki", "val", "sul", "em", "bra", "cor", "hal", "ith", "jun"};

std::string word(const philox_stream& rng, std::uint64_t& pos, int n) {
  std::string w;
  for (int i = 0; i < n; ++i) w += syllables[static_cast<std::size_t>(rng.uniform(pos++) * 30) % 30];
  return w;
}

std::string fill(const char* t, const std::string& entity) {
  std::string s = t;
  const auto p = s.find("{}");
  return p == std::string::npos ? s : s.substr(0, p) + entity + s.substr(p + 2);
}

}  // namespace

std::size_t synthetic_capacity() { return 200000; }

std::vector<record> synthetic_records(std::size_t count, std::uint64_t seed) {
  const philox_stream rng{seed ^ 0x5eed5eedULL, 0};
  std::uint64_t pos = 0;
  auto pool = [&](const std::string& prefix, const std::string& suffix, int n) {
    std::set<std::string> seen;
    std::vector<std::string> v;
    while (static_cast<int>(v.size()) < n) {
      const std::string a = prefix + word(rng, pos, 2) + suffix;
      if (seen.insert(a).second) v.push_back(a);
    }
    return v;
  };
  const std::vector<topic> topics = {
      {"", {{{"which university did {} attend?", "where was {} educated?", "what college did {} go to?"}, pool("university of ", "", 10)},
            {{"what is the field of work of {}?", "in which field did {} work?", "what did {} study professionally?"}, pool("", "logy", 10)}}},
      {"river ", {{{"into which sea does {} flow?", "where is the mouth of {}?", "what body of water does {} empty into?"}, pool("", " sea", 10)},
                  {{"which country is {} located in?", "in what country does {} run?", "{} is in which country?"}, pool("", "land", 10)}}},
      {"", {{{"which team does {} play for?", "what club is {} a member of?", "{} plays for which team?"}, pool("fc ", "", 10)},
            {{"what position does {} play?", "which position is played by {}?", "{} plays in what position?"}, pool("", " back", 10)}}},
      {"company ", {{{"where is {} headquartered?", "in which city is the headquarters of {}?", "what city is {} based in?"}, pool("", " city", 10)},
                    {{"who founded {}?", "{} was founded by whom?", "who is the founder of {}?"}, pool("", "son", 10)}}},
      {"album ", {{{"which record label released {}?", "what label put out {}?", "{} was released on which label?"}, pool("", " records", 10)},
                  {{"what is the genre of {}?", "which music genre is {}?", "{} belongs to what genre?"}, pool("", " rock", 10)}}},
      {"film ", {{{"who directed {}?", "who is the director of {}?", "{} was directed by whom?"}, pool("", "berg", 10)},
                 {{"what is the original language of {}?", "in which language was {} made?", "{} was filmed in what language?"}, pool("", "ish", 10)}}},
  };
  const char* loc_templates[] = {"nq question: who sang the song {}", "nq question: when was the treaty of {} signed",
                                 "nq question: what is the capital of {}", "nq question: who wrote the novel {}",
                                 "nq question: where is the {} stadium", "nq question: how many episodes are in season {}"};
  if (count > synthetic_capacity())
    throw value_error(concat("edit_bench::synthetic_records: argument 'count' expected at most ", synthetic_capacity(), ", got ", count));
  std::vector<record> out;
  std::set<std::string> entities;
  std::vector<std::size_t> per_topic(topics.size(), 0);
  std::size_t next = 0;
  while (out.size() < count) {
    const std::size_t t = next++ % topics.size();
    const auto& tp = topics[t];
    // Names of a prefixed topic have 2 syllables (900 possible) while fewer than 600 are taken, then 3
    // (27000), then 4: drawing a fresh name stays cheap and never runs out (persons: two 2-syllable
    // words, 810000 names).
    const std::size_t taken = per_topic[t]++;
    const int syl = !tp.kind[0] || taken < 600 ? 2 : taken < 18000 ? 3 : 4;
    std::string name;
    do name = std::string(tp.kind) + word(rng, pos, syl) + (tp.kind[0] ? "" : " " + word(rng, pos, 2));
    while (!entities.insert(name).second);
    // Each entity gets one or both relations of its topic (ZsRE has ~1.8 records per subject).
    const int rels = rng.uniform(pos++) < 0.6f ? 2 : 1;
    for (int r = 0; r < rels && out.size() < count; ++r) {
      const auto& rel = tp.relations[static_cast<std::size_t>(r)];
      const auto n = rel.answers.size();
      const std::size_t a = static_cast<std::size_t>(rng.uniform(pos++) * static_cast<float>(n)) % n;
      const std::size_t b = (a + 1 + static_cast<std::size_t>(rng.uniform(pos++) * static_cast<float>(n - 1)) % (n - 1)) % n;
      const std::size_t para = 1 + static_cast<std::size_t>(rng.uniform(pos++) * static_cast<float>(rel.templates.size() - 1)) % (rel.templates.size() - 1);
      const std::string loc_arg = word(rng, pos, 3);
      const std::size_t lt = static_cast<std::size_t>(rng.uniform(pos++) * 6) % 6;
      out.push_back({fill(rel.templates[0], name), rel.answers[a], fill(rel.templates[para], name), rel.answers[b],
                     fill(loc_templates[lt], loc_arg), word(rng, pos, 2)});
    }
  }
  return out;
}

}  // namespace beacon::cli::edit_bench

// SPDX-License-Identifier: Apache-2.0
// beacon as a client library of a libtorch model: a small torch::nn Transformer encoder learns a set
// of facts; beacon's lifelong-editing runner then edits it with a LEMoE adaptor (per-instance anchor
// routing) beside the FFN of its last layer. Tensors cross between torch and beacon through DLPack
// without copies (beacon::interop): the runner's loss goes through torch autograd on beacon's own
// memory, and at the end the adaptor's output is checked against the same computation written with
// torch::nn::functional on the adaptor's weights (shared, not copied).
//
//   ./libtorch_edit            (exit 0 when the edits land and beacon and torch agree)
#include <ATen/DLConvertor.h>
#include <torch/torch.h>

#include <beacon/backend/cpu.hpp>
#include <beacon/edit.hpp>
#include <beacon/interop/dlpack.hpp>
#include <beacon/moe.hpp>

#include <cstdio>
#include <vector>

namespace edit = beacon::edit;
namespace moe = beacon::moe;
using beacon::index_type;
using mat = beacon::row_matrix<float>;

namespace {

constexpr int d = 64, answers = 24, facts = 60;

/// [CLS] + 6 words -> one pre-LN encoder layer -> the FFN of that layer (the edited block) ->
/// answer from the CLS row.
struct encoder : torch::nn::Module {
  torch::nn::Embedding tok{nullptr}, pos{nullptr};
  torch::nn::MultiheadAttention attn{nullptr};
  torch::nn::LayerNorm ln1{nullptr}, ln2{nullptr}, lnf{nullptr};
  torch::nn::Linear ffn_in{nullptr}, ffn_out{nullptr}, head{nullptr};
  explicit encoder(int vocab) {
    tok = register_module("tok", torch::nn::Embedding(vocab, d));
    pos = register_module("pos", torch::nn::Embedding(8, d));
    attn = register_module("attn", torch::nn::MultiheadAttention(torch::nn::MultiheadAttentionOptions(d, 2)));
    ln1 = register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
    ln2 = register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
    lnf = register_module("lnf", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
    ffn_in = register_module("ffn_in", torch::nn::Linear(d, 4 * d));
    ffn_out = register_module("ffn_out", torch::nn::Linear(4 * d, d));
    head = register_module("head", torch::nn::Linear(d, answers));
  }
  /// What beacon needs per question: the block input at CLS (x), the mean block input over the
  /// question's tokens (e, the instance embedding) and the frozen block output at CLS (h0).
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> block(const torch::Tensor& ids) {
    const auto L = ids.size(1);
    auto x = tok(ids) + pos(torch::arange(L)).unsqueeze(0);  // [B, L, d]
    auto a = ln1(x).transpose(0, 1);                          // attention wants [L, B, d]
    x = x + std::get<0>(attn(a, a, a)).transpose(0, 1);
    auto b = ln2(x);
    auto cls_in = b.select(1, 0), cls = x.select(1, 0);
    return {cls_in, b.mean(1), cls + ffn_out(torch::relu(ffn_in(cls_in)))};
  }
  torch::Tensor answer_logits(const torch::Tensor& h) { return head(lnf(h)); }
};

/// A torch tensor as a beacon matrix (zero-copy through DLPack), copied into an owning matrix.
mat to_beacon(const torch::Tensor& t) {
  const auto c = t.detach().contiguous();
  DLManagedTensor* m = at::toDLPack(c);
  mat out = beacon::as_eigen(beacon::interop::matrix_from_dlpack<const float>(m->dl_tensor));
  m->deleter(m);
  return out;
}

/// A beacon matrix as a torch tensor sharing its memory (the matrix must outlive the tensor).
torch::Tensor to_torch(beacon::matrix_view<const float> m) { return at::fromDLPack(beacon::interop::to_dlpack(m)); }

/// The frozen rest of the torch model after the edited block, as an edit::host_model.
struct torch_host {
  using scalar = float;
  encoder* model = nullptr;
  double loss(const mat& h, const std::vector<index_type>& y, mat& dh) const {
    torch::Tensor H = to_torch(beacon::as_view(h)).detach().requires_grad_(true);  // beacon's memory, read only
    const auto target = torch::tensor(std::vector<std::int64_t>(y.begin(), y.end()), torch::kLong);
    torch::Tensor l = torch::nn::functional::cross_entropy(model->answer_logits(H), target);
    l.backward();
    dh = to_beacon(H.grad());
    return l.item<double>();
  }
  std::vector<index_type> predict(const mat& h) const {
    torch::NoGradGuard no_grad;
    const auto ids = model->answer_logits(to_torch(beacon::as_view(h))).argmax(1).to(torch::kInt);
    return {ids.data_ptr<int>(), ids.data_ptr<int>() + ids.size(0)};
  }
};
static_assert(edit::host_model<torch_host>);

}  // namespace

int main() {
  torch::manual_seed(0);
  // Facts: "what is the capital of entity i ?" -> pred[i]; paraphrase "which city is the capital of
  // entity i"; locality: "who wrote the book of other j" -> its own answer.
  const std::int64_t W_what = 1, W_is = 2, W_the = 3, W_capital = 4, W_of = 5, W_which = 6, W_city = 7, W_who = 8, W_wrote = 9,
                     W_book = 10, W_q = 11, ent0 = 12, other0 = ent0 + facts, vocab = other0 + facts;
  std::vector<std::int64_t> src, para, loc, pred, alt, loc_ans;
  for (std::int64_t i = 0; i < facts; ++i) {
    src.insert(src.end(), {0, W_what, W_is, W_the, W_capital, W_of, ent0 + i});
    para.insert(para.end(), {0, W_which, W_city, W_is, W_capital, W_of, ent0 + i});
    loc.insert(loc.end(), {0, W_who, W_wrote, W_the, W_book, other0 + i, W_q});
    pred.push_back((i * 7) % answers);
    alt.push_back((i * 7 + 1 + i % 5) % answers);
    loc_ans.push_back((i * 5 + 3) % answers);
  }
  auto ids = [](const std::vector<std::int64_t>& v) { return torch::tensor(v, torch::kLong).view({facts, 7}); };
  const auto S = ids(src), P = ids(para), Lq = ids(loc);

  encoder model(static_cast<int>(vocab));
  torch::optim::Adam opt(model.parameters(), torch::optim::AdamOptions(3e-3));
  const auto inputs = torch::cat({S, P, Lq});
  const auto labels = torch::cat({torch::tensor(pred), torch::tensor(pred), torch::tensor(loc_ans)});
  int epoch = 0;
  for (; epoch < 500; ++epoch) {
    opt.zero_grad();
    auto [x, e, h0] = model.block(inputs);
    const auto logits = model.answer_logits(h0);
    torch::nn::functional::cross_entropy(logits, labels).backward();
    opt.step();
    if (logits.argmax(1).eq(labels).all().item<bool>()) break;
  }
  for (auto& p : model.parameters()) p.requires_grad_(false);
  model.eval();
  std::printf("torch host: 1 encoder layer, d = %d, %d facts + %d paraphrases + %d locality questions learned in %d epochs\n", d, facts, facts,
              facts, epoch + 1);

  // The edits as beacon sees them: features of the frozen model, through DLPack.
  edit::edit_set<float> set;
  auto features = [&](const torch::Tensor& q) {
    torch::NoGradGuard no_grad;
    auto [x, e, h0] = model.block(q);
    return edit::question_features<float>{to_beacon(x), to_beacon(e), to_beacon(h0)};
  };
  set.src = features(S), set.rephrase = features(P), set.loc = features(Lq);
  set.target.assign(alt.begin(), alt.end());
  const torch_host host{&model};
  set.loc_answer = host.predict(set.loc.h0);

  // Lifelong editing: 5 steps, one new expert each, per-instance anchor routing (docs/edit.md).
  const beacon::cpu be{};
  using adaptor = moe::adaptor<float, moe::instance_anchor_router<moe::top_k<1>>, moe::mlp_expert<beacon::activation::relu>, beacon::cpu>;
  adaptor::config c;
  c.d_model = d;
  c.expert_hidden = 64;
  c.router.threshold = 0.6;
  adaptor ad(be, c);
  edit::adaptor_run_options o;
  o.forced = true;
  o.max_iters = 300;
  const auto batches = edit::order_stream(be, edit::split_streams(facts, 0)[0], 5, edit::order_spec{false, 1}, set.src.e, set.src.x);
  const auto run = edit::edit_with_adaptor(ad, host, set, batches, {}, o);
  long long reached = 0;
  for (const auto& s : run.steps) reached += s.reached_threshold;
  std::printf("edited %d facts in 5 steps (%lld reached the loss threshold): Rel %.3f  Gen %.3f  Loc %.3f  routing consistency %.3f\n", facts,
              reached, run.scores.rel, run.scores.gen, run.scores.loc, run.routing_consistency);

  // The adaptor's output for the edit prompts, by beacon and by torch on the adaptor's own weights.
  mat out(facts, d);
  ad.forward(beacon::as_view(std::as_const(set.src.x)), beacon::as_view(std::as_const(set.src.e)), beacon::as_view(out));
  const auto route = ad.route_top1(beacon::as_view(std::as_const(set.src.e)));
  const torch::Tensor X = to_torch(beacon::as_view(std::as_const(set.src.x)));
  double worst = 0;
  for (int i = 0; i < facts; ++i) {
    torch::Tensor ref = torch::zeros({d});
    if (route[static_cast<std::size_t>(i)] >= 0) {
      const auto& w = ad.expert(route[static_cast<std::size_t>(i)]);  // w1 (hidden x d), b1, w2 (d x hidden), b2
      namespace F = torch::nn::functional;
      const auto hidden = torch::relu(F::linear(X[i], to_torch(w[0].value()), to_torch(w[1].value()).view({-1})));
      ref = F::linear(hidden, to_torch(w[2].value()), to_torch(w[3].value()).view({-1}));  // gate 1: renormalised top-1
    }
    const auto diff = (ref - to_torch(beacon::as_view(std::as_const(out))).select(0, i)).abs().max().item<double>();
    worst = std::max(worst, diff);
  }
  std::printf("adaptor output, beacon vs the same expert in torch: max |difference| = %.2e over %d edit prompts\n", worst, facts);
  const bool ok = worst < 1e-4 && run.scores.rel >= 0.9 && run.routing_consistency >= 0.9;
  std::printf("%s\n", ok ? "OK" : "FAILED: expected agreement within 1e-4, Rel >= 0.9 and routing consistency >= 0.9");
  return ok ? 0 : 1;
}

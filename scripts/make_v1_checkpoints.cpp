// SPDX-License-Identifier: Apache-2.0
// Not a test and not built: the program that wrote tests/data/checkpoints/v1_*.safetensors and their
// *.expected.txt outputs, compiled against commit c300539 (the last format-1 writer) and kept for
// provenance: g++ -std=c++20 -fopenmp -Iinclude -I/usr/include/eigen3 make_v1_checkpoints.cpp
// Writes version-1 checkpoints (beacon.moe.adaptor/1) with the code before the format went to 2.
#include <beacon/beacon.hpp>
#include <beacon/io/adaptor_checkpoint.hpp>
#include <beacon/moe.hpp>
#include <cstdio>
#include <string>
using namespace beacon::moe;
using beacon::row_matrix;
template <class A>
void make(const char* path, typename A::config cfg) {
  A a(beacon::cpu{1}, cfg);
  adamw opt; opt.lr = 0.05;
  for (int s = 0; s < 3; ++s) {
    row_matrix<float> e(2, 6), x(4, 6);
    for (int i = 0; i < 12; ++i) e.data()[i] = std::sin(1.0f + i + 7 * s) + s;
    for (int i = 0; i < 24; ++i) x.data()[i] = std::cos(0.5f * i + s);
    a.insert_expert(expert_init<float>::random_normal(s, 0.3), beacon::as_view(std::as_const(e)));
    a.train_step(beacon::as_view(std::as_const(x)), beacon::as_view(std::as_const(e)),
                 [](beacon::matrix_view<const float> out, beacon::matrix_view<float> d) {
                   for (long i = 0; i < out.rows(); ++i) for (long j = 0; j < out.cols(); ++j) d(i, j) = out(i, j) - 0.5f;
                   return 1.0; }, opt, s);
  }
  beacon::io::save_adaptor(a, path);
  row_matrix<float> e(2, 6), x(4, 6), out(4, 6);
  for (int i = 0; i < 12; ++i) e.data()[i] = std::sin(3.0f * i) + 1.0f;
  for (int i = 0; i < 24; ++i) x.data()[i] = std::cos(0.25f * i);
  a.forward(beacon::as_view(std::as_const(x)), beacon::as_view(std::as_const(e)), beacon::as_view(out));
  FILE* f = std::fopen((std::string(path) + ".expected").c_str(), "w");
  for (int i = 0; i < 24; ++i) std::fprintf(f, "%.9g\n", out.data()[i]);
  std::fclose(f);
  std::printf("wrote %s\n", path);
}
int main(int, char** argv) {
  const std::string dir = argv[1];
  kv_router_options o; o.score = score_function::cosine;
  make<adaptor<float, kv_anchor_router<top_k<2>>, swiglu_expert>>((dir + "/v1_kv2_swiglu_f32.safetensors").c_str(),
      {.d_model = 6, .expert_hidden = 5, .router_rank = 3, .lambda = 0.5, .router = o, .seed = 9});
  instance_anchor_options io; io.threshold = 0.1;
  make<adaptor<float, instance_anchor_router<top_k<1>>, mlp_expert<activation::relu>>>((dir + "/v1_instance1_mlp_relu_f32.safetensors").c_str(),
      {.d_model = 6, .expert_hidden = 4, .router = io, .seed = 3});
  make<adaptor<float, softmax_topk_router<top_k<1>>, lora_expert<3, activation::relu>>>((dir + "/v1_softmax1_lora3_f32.safetensors").c_str(),
      {.d_model = 6, .expert_hidden = 4, .seed = 5});
}

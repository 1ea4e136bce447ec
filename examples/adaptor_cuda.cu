// SPDX-License-Identifier: Apache-2.0
// The LEMoE adaptor on the GPU: the same lines as on the CPU (examples/adaptor_variants.cpp,
// lifelong_edit_minimal.cpp), with a beacon::cuda backend and device views. Two editing steps
// insert and train an expert each; the checkpoint saved here loads on beacon::cpu as well.
//
//   nvcc -std=c++20 --extended-lambda -I include -I /usr/include/eigen3 adaptor_cuda.cu -lcublas
// (or link beacon::cuda from CMake). Without a visible GPU it says so and exits 77.
#include <beacon/backend/cpu.hpp>
#include <beacon/backend/cuda.cuh>
#include <beacon/beacon.hpp>
#include <beacon/io/adaptor_checkpoint.hpp>
#include <beacon/moe.hpp>

#include <cstdio>
#include <vector>

namespace moe = beacon::moe;
template <class Backend>
using lemoe = moe::adaptor<float, moe::kv_anchor_router<moe::top_k<1>>, moe::swiglu_expert, Backend>;

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("adaptor_cuda SKIPPED: no CUDA device visible\n");
    return 77;
  }
  const beacon::size_type d = 64, batch = 8, length = 4;
  beacon::cuda be;                                       // the default stream
  lemoe<beacon::cuda> a(be, {.d_model = d, .expert_hidden = 128, .router_rank = 16, .seed = 1});
  beacon::adamw opt;
  opt.lr = 1e-2;

  beacon::device_buffer<float> e(batch * d), x(batch * length * d), target(batch * length * d);
  for (int step = 0; step < 2; ++step) {
    // Device data (here drawn on the device; in a model: pooled embeddings and hidden states).
    beacon::fill_normal(be, beacon::philox_stream{10u + static_cast<unsigned>(step), 0}, e.matrix(batch, d));
    beacon::fill_normal(be, beacon::philox_stream{20u + static_cast<unsigned>(step), 0}, x.matrix(batch * length, d));
    beacon::fill_normal(be, beacon::philox_stream{30u + static_cast<unsigned>(step), 0}, target.matrix(batch * length, d));
    const auto ev = std::as_const(e).matrix(batch, d), xv = std::as_const(x).matrix(batch * length, d);
    a.insert_expert(moe::expert_init<float, beacon::device_space>::random_normal(static_cast<std::uint64_t>(step), 0.1), ev);
    // The loss runs on the device too: dL/dout = out - target (MSE / 2 per element).
    const auto loss = [&](beacon::matrix_view<const float, beacon::device_space> out, beacon::matrix_view<float, beacon::device_space> dout) {
      beacon::axpby(be, 1.0f, out, -1.0f, std::as_const(target).matrix(batch * length, d), dout);
      return 0.0;
    };
    for (int it = 0; it < 50; ++it) a.train_step(xv, ev, loss, opt, step);  // the step's batch trains its own expert
    beacon::device_buffer<float> out(batch * length * d);
    a.forward(xv, ev, out.matrix(batch * length, d));
    const auto o = beacon::download(be, std::as_const(out).view()), t = beacon::download(be, std::as_const(target).view());
    double mse = 0;
    for (std::size_t i = 0; i < o.size(); ++i) mse += (o[i] - t[i]) * (o[i] - t[i]) / static_cast<double>(o.size());
    const auto routes = a.route_top1(ev);
    int own = 0;
    for (auto r : routes) own += r == step;
    std::printf("step %d: expert %d trained, mean squared error %.4f, %d/%lld edits routed to it\n", step, step, mse, own,
                static_cast<long long>(batch));
  }
  beacon::io::save_adaptor(a, "adaptor_cuda.safetensors");
  const auto on_cpu = beacon::io::load_adaptor<lemoe<beacon::cpu>>(beacon::cpu{}, "adaptor_cuda.safetensors");
  std::printf("saved adaptor_cuda.safetensors (%lld experts) and loaded it on the CPU backend (%lld experts)\n",
              static_cast<long long>(a.experts()), static_cast<long long>(on_cpu.experts()));
  return 0;
}

// SPDX-License-Identifier: Apache-2.0
// DLPack interop (include/beacon/interop/dlpack.hpp): views of hand-built DLTensors share their
// memory, strides and byte offsets are honoured, tensors a view cannot express are named errors, and
// to_dlpack round-trips without a copy.
#include <doctest/doctest.h>

#include <beacon/core/eigen.hpp>
#include <beacon/interop/dlpack.hpp>

#include <cstdint>
#include <vector>

using beacon::size_type;

namespace {

struct tensor {
  std::vector<std::int64_t> shape, strides;
  DLTensor t{};
  tensor(void* data, DLDataType type, std::vector<std::int64_t> sh, std::vector<std::int64_t> st = {}) : shape(std::move(sh)), strides(std::move(st)) {
    t.data = data;
    t.device = DLDevice{kDLCPU, 0};
    t.ndim = static_cast<int>(shape.size());
    t.dtype = type;
    t.shape = shape.data();
    t.strides = strides.empty() ? nullptr : strides.data();
    t.byte_offset = 0;
  }
};

}  // namespace

TEST_CASE("interop::matrix_from_dlpack: zero-copy row-major views with strides and offsets") {
  std::vector<float> data(12);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i);
  tensor compact(data.data(), beacon::interop::dlpack_type<float>(), {3, 4});
  auto m = beacon::interop::matrix_from_dlpack<float>(compact.t);
  CHECK(m.data() == data.data());
  CHECK(m.rows() == 3);
  CHECK(m.cols() == 4);
  CHECK(m.ld() == 4);
  CHECK(m(2, 1) == 9.0f);
  m(0, 0) = 42.0f;  // writes reach the producer's memory
  CHECK(data[0] == 42.0f);
  // A 2 x 3 block starting at element (1, 1): ld 4 from strides, the start from byte_offset.
  tensor block(data.data(), beacon::interop::dlpack_type<float>(), {2, 3}, {4, 1});
  block.t.byte_offset = 5 * sizeof(float);
  const auto b = beacon::interop::matrix_from_dlpack<const float>(block.t);
  CHECK(b.ld() == 4);
  CHECK(b(0, 0) == 5.0f);
  CHECK(b(1, 2) == 11.0f);
  std::vector<std::int32_t> ids = {3, 1, 2};
  tensor v(ids.data(), beacon::interop::dlpack_type<std::int32_t>(), {3});
  const auto iv = beacon::interop::vector_from_dlpack<const std::int32_t>(v.t);
  CHECK(iv.size() == 3);
  CHECK(iv[0] == 3);
}

TEST_CASE("interop::matrix_from_dlpack: a tensor the view cannot express is a value_error naming the property") {
  std::vector<float> data(12);
  tensor t(data.data(), beacon::interop::dlpack_type<float>(), {3, 4});
  CHECK_THROWS_WITH_AS(beacon::interop::matrix_from_dlpack<double>(t.t), doctest::Contains("tensor.dtype"), beacon::value_error);
  CHECK_THROWS_WITH_AS(beacon::interop::vector_from_dlpack<float>(t.t), doctest::Contains("tensor.ndim"), beacon::value_error);
  tensor transposed(data.data(), beacon::interop::dlpack_type<float>(), {4, 3}, {1, 4});
  CHECK_THROWS_WITH_AS(beacon::interop::matrix_from_dlpack<float>(transposed.t), doctest::Contains("tensor.strides[1]"), beacon::value_error);
  tensor gpu(data.data(), beacon::interop::dlpack_type<float>(), {3, 4});
  gpu.t.device = DLDevice{kDLCUDA, 0};
  CHECK_THROWS_WITH_AS(beacon::interop::matrix_from_dlpack<float>(gpu.t), doctest::Contains("device_type"), beacon::value_error);
  CHECK(beacon::interop::matrix_from_dlpack<float, beacon::device_space>(gpu.t).rows() == 3);  // a device view of it is fine
  tensor overlap(data.data(), beacon::interop::dlpack_type<float>(), {3, 4}, {2, 1});
  CHECK_THROWS_WITH_AS(beacon::interop::matrix_from_dlpack<float>(overlap.t), doctest::Contains("tensor.strides[0]"), beacon::value_error);
  tensor lanes(data.data(), DLDataType{kDLFloat, 32, 4}, {3, 4});
  CHECK_THROWS_WITH_AS(beacon::interop::matrix_from_dlpack<float>(lanes.t), doctest::Contains("lanes"), beacon::value_error);
}

TEST_CASE("interop::to_dlpack: describes a beacon view without a copy, round-trips, and the deleter frees only the metadata") {
  beacon::row_matrix<double> y = beacon::row_matrix<double>::Random(5, 3);
  DLManagedTensor* m = beacon::interop::to_dlpack(beacon::as_view(y));
  CHECK(m->dl_tensor.data == y.data());
  CHECK(m->dl_tensor.ndim == 2);
  CHECK(m->dl_tensor.shape[0] == 5);
  CHECK(m->dl_tensor.shape[1] == 3);
  CHECK(m->dl_tensor.strides[0] == 3);
  CHECK(m->dl_tensor.dtype.code == kDLFloat);
  CHECK(m->dl_tensor.dtype.bits == 64);
  CHECK(m->dl_tensor.device.device_type == kDLCPU);
  const auto back = beacon::interop::matrix_from_dlpack<double>(m->dl_tensor);
  CHECK(back.data() == y.data());
  CHECK(back(4, 2) == y(4, 2));
  m->deleter(m);
  CHECK(y.rows() == 5);  // the data is still beacon's
}

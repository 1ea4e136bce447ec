// SPDX-License-Identifier: Apache-2.0
#pragma once
// A named trainable tensor held by the backend (value, gradient and AdamW moments in backend
// buffers) with the freezing lifelong editing relies on: rows [0, frozen_rows) are never written by
// an optimiser step, so they stay bit-identical. A fully frozen parameter drops its gradient and
// moments (lifelong editing keeps many frozen experts; they cost their values only).
//
// Stacked parameters grow by rows (append_rows): the router's keys are one E x d_k tensor whose
// earlier rows freeze as experts are inserted, so scoring is one GEMM and the update one call.

#include <string>
#include <utility>
#include <vector>

#include "../core/adamw.hpp"
#include "../core/backend.hpp"
#include "../core/error.hpp"

namespace beacon::moe {

/// The backend's owning array type for T (host_buffer on the CPU, device_buffer on CUDA).
template <class T, class B>
using buffer_t = decltype(make_buffer<T>(std::declval<const B&>(), size_type{}));

/// A backend buffer sized to at least n elements (contents are not kept when it grows).
template <class T, class B>
void reserve_buffer(const B& be, buffer_t<T, B>& buf, size_type n) {
  if (buf.size() < n) buf = make_buffer<T>(be, n);
}

template <class T, class B>
class parameter {
 public:
  using space = typename B::memory_space;
  using buffer = buffer_t<T, B>;

  parameter() = default;
  /// A zero tensor of `shape` (one or two extents, row-major; a vector is one row).
  parameter(const B& be, std::string name, std::vector<size_type> shape) : name_(std::move(name)), shape_(std::move(shape)) {
    if (shape_.empty() || shape_.size() > 2) beacon::fail("moe::parameter", "shape", "1 or 2 extents", shape_.size());
    for (auto e : shape_)
      if (e < 0) beacon::fail("moe::parameter", "shape", "extents >= 0", e);
    allocate(be, rows() * cols());
  }

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] const std::vector<size_type>& shape() const noexcept { return shape_; }
  [[nodiscard]] size_type rows() const noexcept { return shape_.size() == 2 ? shape_[0] : 1; }
  [[nodiscard]] size_type cols() const noexcept { return shape_.back(); }
  [[nodiscard]] size_type size() const noexcept { return rows() * cols(); }

  /// Rows [0, frozen_rows()) never change again.
  [[nodiscard]] size_type frozen_rows() const noexcept { return frozen_rows_; }
  [[nodiscard]] bool frozen() const noexcept { return frozen_rows_ >= rows(); }
  [[nodiscard]] bool trainable() const noexcept { return !frozen(); }

  /// Freezes rows [0, n) (never unfreezes). A fully frozen parameter releases gradient and moments.
  void freeze_rows(size_type n) {
    if (n < 0 || n > rows()) beacon::fail("moe::parameter::freeze_rows", "n", beacon::concat("in [0, ", rows(), "]"), n);
    frozen_rows_ = std::max(frozen_rows_, n);
    if (frozen()) {
      grad_ = buffer();
      m_ = buffer();
      v_ = buffer();
    }
  }
  void freeze() { freeze_rows(rows()); }

  [[nodiscard]] matrix_view<const T, space> value() const { return const_view(value_).as_matrix(rows(), cols()); }
  [[nodiscard]] matrix_view<T, space> value() { return view(value_).as_matrix(rows(), cols()); }
  [[nodiscard]] vector_view<const T, space> value_vector() const { return const_view(value_); }
  [[nodiscard]] vector_view<T, space> value_vector() { return view(value_); }
  /// The whole gradient (rows x cols); empty when frozen.
  [[nodiscard]] matrix_view<T, space> grad() {
    if (frozen()) return {};
    return view(grad_).as_matrix(rows(), cols());
  }
  [[nodiscard]] matrix_view<const T, space> grad() const {
    if (frozen()) return {};
    return const_view(grad_).as_matrix(rows(), cols());
  }

  void zero_grad(const B& be) {
    if (!frozen()) fill(be, T(0), view(grad_).as_matrix(rows(), cols()));
  }

  /// One AdamW update of the trainable rows.
  void adamw_update(const B& be, const adamw_coefficients& c) {
    if (frozen()) return;
    const size_type first = frozen_rows_ * cols(), n = size() - first;
    adamw_step(be, c, vector_view<T, space>(value_.view().data() + first, n), vector_view<const T, space>(grad_.view().data() + first, n),
               vector_view<T, space>(m_.view().data() + first, n), vector_view<T, space>(v_.view().data() + first, n));
  }

  /// Grows a matrix parameter by n zero rows (values, gradients and moments of the old rows kept).
  void append_rows(const B& be, size_type n) {
    if (shape_.size() != 2) beacon::fail("moe::parameter::append_rows", "shape", "a matrix", "a vector");
    const size_type old = size();
    shape_[0] += n;
    value_ = grown(be, value_, old);
    grad_ = grown(be, grad_, grad_.size() >= old ? old : 0);  // a frozen parameter had none
    m_ = grown(be, m_, m_.size() >= old ? old : 0);
    v_ = grown(be, v_, v_.size() >= old ? old : 0);
  }

 private:
  static vector_view<T, space> view(buffer& b) { return b.view(); }
  static vector_view<const T, space> const_view(const buffer& b) { return b.view(); }

  void allocate(const B& be, size_type n) {
    value_ = make_buffer<T>(be, n);
    grad_ = make_buffer<T>(be, n);
    m_ = make_buffer<T>(be, n);
    v_ = make_buffer<T>(be, n);
    for (buffer* b : {&value_, &grad_, &m_, &v_})
      if (n > 0) fill(be, T(0), b->view().as_matrix(1, n));
  }

  buffer grown(const B& be, const buffer& old, size_type keep) const {
    buffer b = make_buffer<T>(be, size());
    if (size() > 0) fill(be, T(0), b.view().as_matrix(1, size()));
    if (keep > 0) copy(be, vector_view<const T, space>(old.view().data(), keep), vector_view<T, space>(b.view().data(), keep));
    return b;
  }

  std::string name_;
  std::vector<size_type> shape_;
  buffer value_, grad_, m_, v_;
  size_type frozen_rows_ = 0;
};

}  // namespace beacon::moe

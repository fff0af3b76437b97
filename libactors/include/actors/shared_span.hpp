#pragma once

/// Zero-copy reads of stored vectors: get_span gives the elements of an
/// object_ref<std::vector<T>> where they lie, and keeps them there. See
/// docs/guide/objects.md, "Zero-copy reads of vectors".

#include "actors/detail/runtime.hpp"
#include "actors/object_ref.hpp"
#include "actors/serialization.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace actors {

/// A read-only view of the elements of a stored std::vector, like
/// std::span<const T>: `data`, `size`, iteration and indexing. The elements are
/// where the object is: in the value in this process's memory, or in its encoded
/// bytes (shared memory of another node of this host, or bytes that came from
/// another node). Every copy holds the object: while one lives, the elements stay
/// valid and the object is neither freed nor spilled, even after every
/// object_ref to it is gone. Copying is a shared_ptr copy; reading is safe from
/// any thread, as the elements never change.
///
/// `T` is the element type with `const`: get_span of an
/// object_ref<std::vector<double>> is a shared_span<const double>.
template <class T>
class shared_span {
  static_assert(std::is_const_v<T>, "a shared_span reads a stored object, which never changes: "
                                    "spell it shared_span<const T>");

 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using pointer = T*;
  using reference = T&;
  using iterator = T*;

  /// An empty span that holds no object.
  shared_span() noexcept = default;

  /// `n` elements at `data`, valid while `keep` lives (runtime use).
  shared_span(T* data, size_type n, std::shared_ptr<const void> keep) noexcept
    : data_(data), size_(n), keep_(std::move(keep)) {}

  /// The first element (null for an empty span of a default-constructed one).
  T* data() const noexcept {
    return data_;
  }
  size_type size() const noexcept {
    return size_;
  }
  size_type size_bytes() const noexcept {
    return size_ * sizeof(T);
  }
  bool empty() const noexcept {
    return size_ == 0;
  }
  iterator begin() const noexcept {
    return data_;
  }
  iterator end() const noexcept {
    return data_ + size_;
  }
  /// Element `i`, unchecked as in std::span: `i` must be below size().
  T& operator[](size_type i) const noexcept {
    return data_[i];
  }
  T& front() const noexcept {
    return data_[0];
  }
  T& back() const noexcept {
    return data_[size_ - 1];
  }

  /// The same elements as a std::span, valid only while this shared_span (or a
  /// copy) lives.
  std::span<T> view() const noexcept {
    return {data_, size_};
  }

 private:
  T* data_ = nullptr;
  size_type size_ = 0;
  std::shared_ptr<const void> keep_;
};

namespace detail {

template <class T>
shared_span<const T> span_of_vector(const object_ref<std::vector<T>>& ref, std::chrono::milliseconds timeout) {
  static_assert(std::is_trivially_copyable_v<T>,
                "get_span reads elements where they lie, so T must be trivially copyable: "
                "use get or get_shared for a vector of other elements");
  static_assert(!std::is_same_v<T, bool>,
                "std::vector<bool> stores bits, not bools, so there is nothing to point at: use get");
  auto run = span_of(ref.cell(), ops_of<std::vector<T>>(), vector_layout_of<T>(), timeout);
  return shared_span<const T>(static_cast<const T*>(run.data), run.count, std::move(run.keep));
}

} // namespace detail

/// Blocks until the object is ready, like `get`, and returns its elements
/// without copying them: a span over the stored vector itself when it is in this
/// process's memory, or, for arithmetic T, straight over its encoded bytes (a
/// shared-memory segment of another node of this host, or bytes that came from
/// another node) when they are suitably aligned. Otherwise the bytes are decoded
/// once into the stored value, and the span is over that. The span keeps the
/// object alive and in place (see shared_span). Throws what `get` throws: the
/// failure of the task that made the object (task_error, …), object_lost_error,
/// or actors::error with type_mismatch. `T` must be trivially copyable (and not
/// bool).
template <class T>
shared_span<const T> get_span(const object_ref<std::vector<T>>& ref) {
  return detail::span_of_vector(ref, detail::forever);
}

/// As `get_span`, but throws timeout_error if the object is not ready in time.
template <class T, class Rep, class Period>
shared_span<const T> get_span(const object_ref<std::vector<T>>& ref, std::chrono::duration<Rep, Period> timeout) {
  return detail::span_of_vector(ref, std::chrono::ceil<std::chrono::milliseconds>(timeout));
}

} // namespace actors

#pragma once

/// A first-in first-out queue that holds no memory until something is queued.

#include <cstddef>
#include <deque>
#include <optional>
#include <utility>

namespace actors::runtime {

/// std::deque allocates its map and a first block of 512 bytes as soon as it
/// is made, empty or not. Queues that most owners never use (an actor's queue
/// of resumed coroutines: only async actors have any) or use late (an actor's
/// mailbox before its first call) cost that for every owner; this one makes its
/// deque on the first push, and clear() gives the memory back.
template <class T>
class lazy_deque {
 public:
  bool empty() const {
    return !q_ || q_->empty();
  }
  std::size_t size() const {
    return q_ ? q_->size() : 0;
  }
  /// Precondition: !empty().
  T& front() {
    return q_->front();
  }
  /// Precondition: !empty().
  void pop_front() {
    q_->pop_front();
  }
  void push_back(T x) {
    if (!q_)
      q_.emplace();
    q_->push_back(std::move(x));
  }
  /// In queue order; an empty range while nothing was queued (value-initialized
  /// iterators compare equal).
  typename std::deque<T>::iterator begin() {
    return q_ ? q_->begin() : typename std::deque<T>::iterator{};
  }
  typename std::deque<T>::iterator end() {
    return q_ ? q_->end() : typename std::deque<T>::iterator{};
  }
  /// Drops every element and the deque's memory.
  void clear() {
    q_.reset();
  }

 private:
  std::optional<std::deque<T>> q_;
};

} // namespace actors::runtime

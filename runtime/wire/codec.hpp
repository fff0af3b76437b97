#pragma once

/// The encoding of the payloads nodes send each other (protocol.hpp, jobs.hpp):
/// each struct's fields in the order its `serialize` lists them, nothing else.
///
/// - bool: one byte, 0 or 1;
/// - other arithmetic types and enums: their bytes as they are in memory
///   (every node has the same byte order and type sizes);
/// - a string: its length, then its bytes; a vector or map: its element
///   count, then the elements (a vector of arithmetic values as its memory);
///   a pair: first, then second;
/// - lengths and counts: unsigned LEB128 (7 bits a byte, low first).
///
/// It is made for the payloads alone, which are small and many: a writer
/// appends to a string and a reader walks a byte range, with nothing set up per
/// message (a Boost archive cost about a microsecond a message in set-up and
/// type look-ups). User values inside payloads stay in their Boost encoding
/// (actors/serialization.hpp), carried as strings.
///
/// The reader trusts nothing: every length and count is checked against the
/// bytes left before anything is allocated for it, a bool must be 0 or 1, and
/// a payload must end where its struct does. It throws actors::error
/// (errc::serialization_failed) saying what is wrong and at which byte.

#include "actors/errors.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace actors::runtime::wire {

class writer {
 public:
  explicit writer(std::string& out) : out_(out) {}

  template <class T>
  writer& operator&(const T& x) {
    put(x);
    return *this;
  }

 private:
  void bytes(const void* p, std::size_t n) {
    out_.append(static_cast<const char*>(p), n);
  }

  void length(std::size_t n) {
    char buf[10];
    std::size_t i = 0;
    std::uint64_t v = n;
    while (v >= 0x80) {
      buf[i++] = static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    buf[i++] = static_cast<char>(v);
    out_.append(buf, i);
  }

  template <class T>
  void put(const T& x) {
    if constexpr (std::is_same_v<T, bool>) {
      out_.push_back(x ? 1 : 0);
    } else if constexpr (std::is_arithmetic_v<T> || std::is_enum_v<T>) {
      bytes(&x, sizeof x);
    } else {
      // A payload struct: its serialize member lists its fields (it is not
      // const, as Boost wants it, but writing does not change the value).
      const_cast<T&>(x).serialize(*this, 0u);
    }
  }

  void put(const std::string& s) {
    length(s.size());
    out_.append(s);
  }

  template <class T, class A>
  void put(const std::vector<T, A>& v) {
    length(v.size());
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
      bytes(v.data(), v.size() * sizeof(T));
    } else {
      for (const auto& x : v)
        put(x);
    }
  }

  template <class K, class V, class C, class A>
  void put(const std::map<K, V, C, A>& m) {
    length(m.size());
    for (const auto& [k, v] : m) {
      put(k);
      put(v);
    }
  }

  template <class F, class S>
  void put(const std::pair<F, S>& p) {
    put(p.first);
    put(p.second);
  }

  std::string& out_;
};

class reader {
 public:
  reader(const char* data, std::size_t size) : begin_(data), at_(data), end_(data + size) {}

  template <class T>
  reader& operator&(T& x) {
    get(x);
    return *this;
  }

  std::size_t left() const noexcept {
    return static_cast<std::size_t>(end_ - at_);
  }

  /// Throws unless every byte was read: bytes after the struct mean the writer
  /// wrote another struct (or another version of it).
  void expect_end() const {
    if (left() != 0)
      fail(std::to_string(left()) + " bytes follow the end of the payload");
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw error(errc::serialization_failed,
                what + " (at byte " + std::to_string(at_ - begin_) + " of " + std::to_string(end_ - begin_) + ")");
  }

  void bytes(void* p, std::size_t n) {
    if (n > left())
      fail("a field of " + std::to_string(n) + " bytes is cut short: " + std::to_string(left()) + " left");
    std::memcpy(p, at_, n);
    at_ += n;
  }

  /// A length or count, which the bytes left must be able to hold, at
  /// `unit` bytes an element at least.
  std::size_t length(std::size_t unit) {
    std::uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
      if (at_ == end_)
        fail("a length is cut short");
      if (shift > 63)
        fail("a length runs past 64 bits");
      auto b = static_cast<unsigned char>(*at_++);
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0)
        break;
    }
    if (v > left() / std::max<std::size_t>(unit, 1))
      fail("a length of " + std::to_string(v) + (unit > 1 ? " elements of " + std::to_string(unit) + " bytes" : "")
           + " is more than the " + std::to_string(left()) + " bytes left");
    return static_cast<std::size_t>(v);
  }

  template <class T>
  void get(T& x) {
    if constexpr (std::is_same_v<T, bool>) {
      unsigned char b = 0;
      bytes(&b, 1);
      if (b > 1)
        fail("a bool reads " + std::to_string(b) + ", not 0 or 1");
      x = b == 1;
    } else if constexpr (std::is_arithmetic_v<T> || std::is_enum_v<T>) {
      bytes(&x, sizeof x);
    } else {
      x.serialize(*this, 0u);
    }
  }

  void get(std::string& s) {
    auto n = length(1);
    s.assign(at_, n);
    at_ += n;
  }

  template <class T, class A>
  void get(std::vector<T, A>& v) {
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
      auto n = length(sizeof(T));
      v.resize(n);
      bytes(v.data(), n * sizeof(T));
    } else {
      // No payload struct encodes to nothing, so the count is bounded by the
      // bytes left; the reservation by the elements they could hold.
      auto n = length(1);
      v.clear();
      v.reserve(std::min(n, left() / sizeof(T) + 1));
      for (std::size_t i = 0; i < n; ++i)
        get(v.emplace_back());
    }
  }

  template <class K, class V, class C, class A>
  void get(std::map<K, V, C, A>& m) {
    auto n = length(1);
    m.clear();
    for (std::size_t i = 0; i < n; ++i) {
      std::pair<K, V> kv;
      get(kv.first);
      get(kv.second);
      m.insert_or_assign(m.end(), std::move(kv.first), std::move(kv.second));
    }
  }

  template <class F, class S>
  void get(std::pair<F, S>& p) {
    get(p.first);
    get(p.second);
  }

  const char* begin_;
  const char* at_;
  const char* end_;
};

} // namespace actors::runtime::wire

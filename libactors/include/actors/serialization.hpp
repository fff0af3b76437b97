#pragma once

/// How values become bytes. User types opt in with a Boost.Serialization member
/// `template <class Archive> void serialize(Archive&, unsigned)` (or the free
/// function form); arithmetic types, enums, strings and the standard containers of
/// serializable types work without user code. A type that cannot be serialized still
/// works inside one node (values are shared there, not copied) but cannot spill to
/// disk or cross nodes; trying to says so with an error.

#include "actors/detail/bounded_iarchive.hpp"
#include "actors/detail/huge_pages.hpp"
#include "actors/errors.hpp"

#include <boost/serialization/array.hpp>
#include <boost/serialization/deque.hpp>
#include <boost/serialization/list.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/set.hpp>
#include <boost/serialization/split_member.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/unordered_map.hpp>
#include <boost/serialization/unordered_set.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/vector.hpp>

#include <array>
#include <cstddef>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace actors::detail {

/// The stored form of `void`: what a task returning nothing leaves as its object.
struct unit {
  template <class Archive>
  void serialize(Archive&, unsigned) {}
};

using oarchive = binary_oarchive;
/// Reads what oarchive writes, refusing declared lengths the input cannot hold.
using iarchive = bounded_iarchive;
inline constexpr unsigned archive_flags = boost::archive::no_header | boost::archive::no_codecvt;

// -- is_serializable: which types have a Boost encoding ----------------------------

template <class T, class = void>
struct has_member_serialize : std::false_type {};
template <class T>
struct has_member_serialize<
  T, std::void_t<decltype(std::declval<T&>().serialize(std::declval<oarchive&>(), 0u))>>
  : std::true_type {};

template <class T, class = void>
struct has_adl_serialize : std::false_type {};
template <class T>
struct has_adl_serialize<
  T, std::void_t<decltype(serialize(std::declval<oarchive&>(), std::declval<T&>(), 0u))>>
  : std::true_type {};

template <class T>
struct is_serializable
  : std::bool_constant<std::is_arithmetic_v<T> || std::is_enum_v<T>
                       || has_member_serialize<T>::value || has_adl_serialize<T>::value> {};
template <>
struct is_serializable<std::string> : std::true_type {};
template <class T, class A>
struct is_serializable<std::vector<T, A>> : is_serializable<T> {};
template <class T, class A>
struct is_serializable<std::deque<T, A>> : is_serializable<T> {};
template <class T, class A>
struct is_serializable<std::list<T, A>> : is_serializable<T> {};
template <class T, std::size_t N>
struct is_serializable<std::array<T, N>> : is_serializable<T> {};
template <class T, class C, class A>
struct is_serializable<std::set<T, C, A>> : is_serializable<T> {};
template <class T, class H, class E, class A>
struct is_serializable<std::unordered_set<T, H, E, A>> : is_serializable<T> {};
template <class K, class V, class C, class A>
struct is_serializable<std::map<K, V, C, A>>
  : std::bool_constant<is_serializable<K>::value && is_serializable<V>::value> {};
template <class K, class V, class H, class E, class A>
struct is_serializable<std::unordered_map<K, V, H, E, A>>
  : std::bool_constant<is_serializable<K>::value && is_serializable<V>::value> {};
template <class A, class B>
struct is_serializable<std::pair<A, B>>
  : std::bool_constant<is_serializable<A>::value && is_serializable<B>::value> {};

template <class T>
inline constexpr bool is_serializable_v = is_serializable<std::remove_cv_t<T>>::value;

// -- byte_size: what a value weighs in the object store ----------------------------

template <class T>
std::size_t byte_size(const T& x);

template <class T>
struct byte_size_of {
  static std::size_t of(const T&) {
    return sizeof(T);
  }
};
template <class C, class Tr, class A>
struct byte_size_of<std::basic_string<C, Tr, A>> {
  static std::size_t of(const std::basic_string<C, Tr, A>& s) {
    return sizeof(s) + s.capacity() * sizeof(C);
  }
};
template <class T, class A>
struct byte_size_of<std::vector<T, A>> {
  static std::size_t of(const std::vector<T, A>& v) {
    std::size_t n = sizeof(v) + (v.capacity() - v.size()) * sizeof(T);
    if constexpr (std::is_trivially_copyable_v<T>) {
      n += v.size() * sizeof(T);
    } else {
      for (const auto& x : v)
        n += byte_size(x);
    }
    return n;
  }
};

template <class T>
std::size_t byte_size(const T& x) {
  return byte_size_of<T>::of(x);
}

// -- encode / decode ---------------------------------------------------------------

/// A stream buffer that appends to a std::string: no intermediate copy, unlike
/// std::ostringstream.
class string_sink : public std::streambuf {
 public:
  explicit string_sink(std::string& out) : out_(out) {}

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    out_.append(s, static_cast<std::size_t>(n));
    return n;
  }
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof()))
      out_.push_back(traits_type::to_char_type(c));
    return traits_type::not_eof(c);
  }

 private:
  std::string& out_;
};

/// A stream buffer that reads a byte range in place: no copy, unlike
/// std::istringstream.
class bytes_source : public std::streambuf {
 public:
  bytes_source(const char* data, std::size_t size) {
    auto* p = const_cast<char*>(data);
    setg(p, p, p + size);
  }
};

/// Thrown inside the runtime when a value has no encoding; turned into an error
/// value at the one place that encodes.
[[noreturn]] void throw_not_serializable(const char* type_name);

/// Reserves `n` elements in an empty vector, in huge pages when it is large:
/// what a decoder does before it fills the vector.
template <class V>
void reserve_large(V& v, std::size_t n) {
  v.reserve(n);
  advise_huge_pages(v.data(), v.capacity() * sizeof(typename V::value_type));
}

template <class T>
struct is_trivial_vector : std::false_type {};
template <class T>
struct is_trivial_vector<std::vector<T, std::allocator<T>>> : std::is_trivially_copyable<T> {};

/// Encodes `x` with a Boost binary archive.
template <class T>
std::string encode(const T& x) {
  if constexpr (is_serializable_v<T>) {
    std::string out;
    reserve_large(out, byte_size(x) + 64);
    string_sink sink(out);
    {
      oarchive ar(sink, archive_flags);
      ar << x;
    }
    return out;
  } else {
    throw_not_serializable(typeid(T).name());
  }
}

/// Decodes a value written by `encode<T>` from the `size` bytes at `data`, read in
/// place (a string, a file's bytes, a shared-memory mapping). Throws
/// boost::archive exceptions, or actors::error for a length or bool the bytes
/// cannot hold, on malformed input; callers turn them into errors. Never
/// allocates much more than `size` bytes.
template <class T>
T decode(const char* data, std::size_t size) {
  if constexpr (is_serializable_v<T>) {
    bytes_source source(data, size);
    iarchive ar(source, archive_flags);
    T x{};
    // The archive resizes the vector to its length and copies the elements in:
    // reserved here first (the length is at most size / sizeof element), the
    // pages are huge ones and nothing is reallocated.
    if constexpr (is_trivial_vector<T>::value)
      if (size >= huge_buffer_bytes)
        reserve_large(x, size / sizeof(typename T::value_type));
    ar >> x;
    return x;
  } else {
    throw_not_serializable(typeid(T).name());
  }
}

/// As above, from the bytes of a string.
template <class T>
T decode(const std::string& bytes) {
  return decode<T>(bytes.data(), bytes.size());
}

/// The operations the runtime needs on a stored value of one C++ type, without
/// knowing the type. One static instance per type; compared by address in-process
/// and by `name` across processes.
struct type_ops {
  /// The mangled type name: the same for the same type in every process built by the
  /// same compiler.
  const char* name;
  /// Null when the type has no encoding.
  std::string (*encode)(const void* value);
  /// Decodes the `size` bytes at `data` (read in place, not copied).
  std::shared_ptr<const void> (*decode)(const char* data, std::size_t size);
  std::size_t (*byte_size)(const void* value);
};

template <class T>
const type_ops* ops_of() {
  static const type_ops ops{
    typeid(T).name(),
    is_serializable_v<T> ? +[](const void* p) { return encode(*static_cast<const T*>(p)); }
                         : nullptr,
    +[](const char* data, std::size_t size) -> std::shared_ptr<const void> {
      return std::make_shared<const T>(decode<T>(data, size));
    },
    +[](const void* p) { return detail::byte_size(*static_cast<const T*>(p)); },
  };
  return &ops;
}

/// A stored value together with its type.
struct value_box {
  std::shared_ptr<const void> value;
  const type_ops* ops = nullptr;
};

template <class T>
value_box box(T&& x) {
  using V = std::remove_cvref_t<T>;
  return value_box{std::make_shared<const V>(std::forward<T>(x)), ops_of<V>()};
}

/// Readable form of a mangled type name, for messages.
std::string demangle(const char* mangled);

} // namespace actors::detail

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

#include <boost/archive/archive_exception.hpp>
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

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
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

/// A std::vector of arithmetic values, which the archive may write raw
/// (vector_layout_of).
template <class T>
struct is_arithmetic_vector : std::false_type {};
template <class T>
struct is_arithmetic_vector<std::vector<T, std::allocator<T>>>
  : std::bool_constant<std::is_arithmetic_v<T> && !std::is_same_v<T, bool>> {};

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

/// Where the elements of a stored std::vector<T> (T trivially copyable) are, for
/// reading them in place (get_span) and copying them in one pass (decode,
/// encode_into). Made once per T by vector_layout_of<T>.
struct vector_layout {
  std::size_t element_size = 0;
  std::size_t element_align = 0;
  /// Where the elements start in the vector's encoding when the archive writes
  /// them as they are in memory (arithmetic T): after `prefix` and the element
  /// count (8 bytes). 0 when they are not written raw.
  std::size_t raw_offset = 0;
  /// The bytes before the count in every encoding of such a vector.
  std::string_view prefix;
  /// The first element and the size of a decoded std::vector<T>.
  std::pair<const void*, std::size_t> (*elements)(const void* vector) = nullptr;
};

/// How a std::vector<T> lies in memory and in its encoding, worked out once.
/// Boost's binary archive writes a vector of arithmetic values as the class
/// information of the vector type if it has any (none for most arithmetic types,
/// 5 bytes for long double), the element count (8 bytes), then the elements as
/// they are in memory. That is checked here rather than assumed: an empty and a
/// two-element vector are encoded, and the layout is used only if they match it.
template <class T>
const vector_layout& vector_layout_of() {
  static const vector_layout layout = [] {
    vector_layout l;
    l.element_size = sizeof(T);
    l.element_align = alignof(T);
    l.elements = +[](const void* v) -> std::pair<const void*, std::size_t> {
      const auto& vec = *static_cast<const std::vector<T>*>(v);
      return {vec.data(), vec.size()};
    };
    if constexpr (std::is_arithmetic_v<T>) {
      static const std::string empty = encode(std::vector<T>{});
      const std::vector<T> two{T(1), T(2)};
      const std::string sample = encode(two);
      auto count_at = [](const std::string& bytes, std::size_t at) {
        std::uint64_t n = 0;
        std::memcpy(&n, bytes.data() + at, sizeof n);
        return n;
      };
      // Compared by value: padding (as in long double) is not part of one.
      auto element_at = [&](std::size_t i) {
        T x;
        std::memcpy(&x, sample.data() + empty.size() + i * sizeof(T), sizeof(T));
        return x;
      };
      const std::size_t n = sizeof(std::uint64_t);
      if (empty.size() >= n && sample.size() == empty.size() + sizeof(T) * 2
          && sample.compare(0, empty.size() - n, empty, 0, empty.size() - n) == 0
          && count_at(empty, empty.size() - n) == 0 && count_at(sample, empty.size() - n) == 2
          && element_at(0) == two[0] && element_at(1) == two[1]) {
        l.raw_offset = empty.size();
        l.prefix = std::string_view(empty).substr(0, empty.size() - n);
      }
    }
    return l;
  }();
  return layout;
}

/// The elements of a vector encoded in the `size` bytes at `data`, if they lie
/// there as they do in memory (`layout`) and are aligned for their type: the
/// first element and the count. Nullopt for anything else, which the archive
/// then decodes (and says what is wrong with, if anything is).
inline std::optional<std::pair<const void*, std::size_t>> raw_vector_elements(const char* data, std::size_t size,
                                                                              const vector_layout& layout) {
  constexpr std::size_t count_size = sizeof(std::uint64_t);
  if (layout.raw_offset < count_size || size < layout.raw_offset
      || std::string_view(data, layout.prefix.size()) != layout.prefix)
    return std::nullopt;
  std::uint64_t count = 0;
  std::memcpy(&count, data + layout.raw_offset - count_size, count_size);
  const std::size_t body = size - layout.raw_offset;
  if (body % layout.element_size != 0 || body / layout.element_size != count)
    return std::nullopt;
  const char* first = data + layout.raw_offset;
  if (reinterpret_cast<std::uintptr_t>(first) % layout.element_align != 0)
    return std::nullopt;
  return std::make_pair(static_cast<const void*>(first), static_cast<std::size_t>(count));
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
    // A large vector of arithmetic values written raw is copied once, into huge
    // pages reserved at its length. The archive (bounded_iarchive's vector load)
    // would reserve them too, but zero the vector before it copies.
    if constexpr (is_arithmetic_vector<T>::value) {
      using E = typename T::value_type;
      if (size >= huge_buffer_bytes) {
        if (auto raw = raw_vector_elements(data, size, vector_layout_of<E>())) {
          const auto* first = static_cast<const E*>(raw->first);
          reserve_large(x, raw->second);
          x.assign(first, first + raw->second);
          return x;
        }
      }
    }
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

/// The exact size of `encode(x)` when it is known without encoding: a
/// std::vector of arithmetic values written raw (vector_layout_of). 0 otherwise.
template <class T>
std::size_t encoded_size(const T& x) {
  if constexpr (is_arithmetic_vector<T>::value) {
    using E = typename T::value_type;
    const auto& layout = vector_layout_of<E>();
    if (layout.raw_offset > 0)
      return layout.raw_offset + x.size() * sizeof(E);
  }
  return 0;
}

/// A stream buffer over a fixed byte range: writing past its end fails, and the
/// archive writing into it throws.
class span_sink : public std::streambuf {
 public:
  span_sink(char* data, std::size_t size) {
    setp(data, data + size);
  }
  std::size_t written() const {
    return static_cast<std::size_t>(pptr() - pbase());
  }
};

/// Writes `encode(x)` straight into the `size` bytes at `out` (a shared-memory
/// segment), without the string in between. `size` must be the encoding's exact
/// size (encoded_size); throws actors::error if it is not.
template <class T>
void encode_into(const T& x, char* out, std::size_t size) {
  if constexpr (is_serializable_v<T>) {
    span_sink sink(out, size);
    try {
      oarchive ar(sink, archive_flags);
      ar << x;
    } catch (const boost::archive::archive_exception& e) {
      // The sink refuses a write past its end: the range is too small. Anything
      // else is the archive's own failure, said as it is.
      if (e.code == boost::archive::archive_exception::output_stream_error)
        throw error(errc::serialization_failed, "encoding a value into " + std::to_string(size)
                                                  + " bytes failed, it needs more: " + e.what());
      throw error(errc::serialization_failed, "encoding a value into " + std::to_string(size)
                                                + " bytes failed: " + e.what());
    }
    if (sink.written() != size)
      throw error(errc::serialization_failed, "the encoding of a value took " + std::to_string(sink.written())
                                                + " of the " + std::to_string(size) + " bytes made for it");
  } else {
    throw_not_serializable(typeid(T).name());
  }
}

/// An encoding that is a short head followed by bytes a value holds in memory
/// as they are: the head, and where those bytes are (while the value lives).
struct encoding_in_place {
  std::string head;
  const char* body = nullptr;
  std::size_t body_size = 0;
};

/// `encode(x)` as a head and `x`'s own bytes, for a std::vector of arithmetic
/// values written raw (vector_layout_of): a sender writes the two as they are
/// and makes no encoding. Nullopt for any other value.
template <class T>
std::optional<encoding_in_place> encoded_in_place(const T& x) {
  if constexpr (is_arithmetic_vector<T>::value) {
    using E = typename T::value_type;
    const auto& layout = vector_layout_of<E>();
    if (layout.raw_offset > 0) {
      encoding_in_place e;
      e.head.reserve(layout.raw_offset);
      e.head.assign(layout.prefix);
      const std::uint64_t count = x.size();
      e.head.append(reinterpret_cast<const char*>(&count), sizeof count);
      e.body = reinterpret_cast<const char*>(x.data());
      e.body_size = x.size() * sizeof(E);
      return e;
    }
  }
  return std::nullopt;
}

/// A value whose encoding is being received straight into it: the encoding's
/// first `head_size` bytes are the head, which must match (head_matches), and
/// the rest are the value's own bytes as they are in memory, written at
/// `grow(value, n)` as they arrive.
struct receiving_in_place {
  std::size_t head_size = 0;
  /// The bytes after the head: the value's own.
  std::size_t body_size = 0;
  /// The value being received into, reserved at its final size.
  std::shared_ptr<void> value;
  /// Makes the first `bytes` (at most body_size) bytes of the value's memory
  /// writable and says where they start. Commits memory as it is asked for, not
  /// before, and never moves what was written.
  char* (*grow)(void* value, std::size_t bytes, std::size_t body_size) = nullptr;
  /// Whether `head` is what the encoding of the value, with all body_size
  /// bytes written, starts with.
  bool (*head_matches)(const void* value, std::string_view head, std::size_t body_size) = nullptr;
};

/// For a std::vector of arithmetic values written raw, whose encoding takes
/// `encoded_size` bytes: the vector to receive those bytes into (reserved at its
/// length, in huge pages when large). Nullopt for any other type, or a size no
/// such vector's encoding has.
template <class T>
std::optional<receiving_in_place> receive_in_place(std::size_t encoded_size) {
  if constexpr (is_arithmetic_vector<T>::value) {
    using E = typename T::value_type;
    const auto& layout = vector_layout_of<E>();
    if (layout.raw_offset == 0 || encoded_size < layout.raw_offset
        || (encoded_size - layout.raw_offset) % sizeof(E) != 0)
      return std::nullopt;
    auto v = std::make_shared<T>();
    receiving_in_place r;
    r.head_size = layout.raw_offset;
    r.body_size = encoded_size - layout.raw_offset;
    reserve_large(*v, r.body_size / sizeof(E));
    r.grow = +[](void* value, std::size_t bytes, std::size_t body_size) {
      auto& vec = *static_cast<T*>(value);
      const std::size_t want = (std::min(bytes, body_size) + sizeof(E) - 1) / sizeof(E);
      if (vec.size() < want)
        vec.resize(want); // within the reserve: the elements stay where they are
      return reinterpret_cast<char*>(vec.data());
    };
    r.head_matches = +[](const void* value, std::string_view head, std::size_t body_size) {
      const auto& vec = *static_cast<const T*>(value);
      const auto& l = vector_layout_of<E>();
      if (head.size() != l.raw_offset || head.substr(0, l.prefix.size()) != l.prefix)
        return false;
      std::uint64_t count = 0;
      std::memcpy(&count, head.data() + l.prefix.size(), sizeof count);
      return count == body_size / sizeof(E) && vec.size() == count;
    };
    r.value = std::move(v);
    return r;
  }
  return std::nullopt;
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
  /// The exact size of the value's encoding where it is known without encoding
  /// (encoded_size below), else 0.
  std::size_t (*encoded_size)(const void* value);
  /// Writes the encoding of the value into the `size` bytes at `out`, `size`
  /// being what encoded_size said (encode_into below). Null when the type has
  /// no encoding.
  void (*encode_into)(const void* value, char* out, std::size_t size);
  /// The value's encoding as a head and the value's own bytes, where it is one
  /// (encoded_in_place above); nullopt otherwise.
  std::optional<encoding_in_place> (*in_place)(const void* value);
  /// A value of this type to receive an encoding of `encoded_size` bytes
  /// straight into, where the type allows it (receive_in_place above).
  std::optional<receiving_in_place> (*receive_in_place)(std::size_t encoded_size);
};

/// Makes `ops` findable by its name (ops_of does it for every type it is
/// asked for). Thread-safe.
void register_type_ops(const type_ops* ops);

/// The operations of the type named `name`, if this process has used that type
/// (through ops_of); null otherwise. Thread-safe.
const type_ops* type_ops_named(std::string_view name);

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
    +[](const void* p) { return encoded_size(*static_cast<const T*>(p)); },
    is_serializable_v<T> ? +[](const void* p, char* out, std::size_t size) {
      encode_into(*static_cast<const T*>(p), out, size);
    }
                         : nullptr,
    +[](const void* p) { return encoded_in_place(*static_cast<const T*>(p)); },
    +[](std::size_t size) { return receive_in_place<T>(size); },
  };
  static const bool registered = (register_type_ops(&ops), true);
  (void)registered;
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

#pragma once

/// A Boost binary input archive that refuses lengths its input cannot hold.
///
/// Boost's own binary_iarchive trusts the sizes it reads: a string or a collection
/// whose length field says "four billion" is allocated before a byte of it is read,
/// so a few malformed bytes from the network can make a node allocate gigabytes or
/// die. This archive reads the same format (what binary_oarchive writes) but checks
/// every declared length against the bytes left in its input, and every bool for 0
/// or 1, and throws actors::error (errc::serialization_failed) on a violation.
///
/// Consequence: a collection may not declare more elements than there are bytes
/// left after its length, so a collection of values that encode to nothing (empty
/// structs) cannot be longer than what follows it. Unordered containers are read
/// by the overloads below, which size their buckets by their element count, not
/// by the bucket count in the bytes.

#include "actors/detail/binary_primitives.hpp"
#include "actors/detail/huge_pages.hpp"
#include "actors/errors.hpp"

#include <boost/archive/basic_binary_iarchive.hpp>
#include <boost/archive/detail/register_archive.hpp>
#include <boost/serialization/array_optimization.hpp>
#include <boost/serialization/collection_size_type.hpp>
#include <boost/serialization/item_version_type.hpp>
#include <boost/serialization/library_version_type.hpp>
#include <boost/serialization/unordered_map.hpp>
#include <boost/serialization/unordered_set.hpp>
#include <boost/serialization/vector.hpp>

#include <algorithm>
#include <cstddef>
#include <streambuf>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace actors::detail {

class bounded_iarchive : public binary_iprimitive<bounded_iarchive>,
                         public boost::archive::basic_binary_iarchive<bounded_iarchive> {
  using base = boost::archive::basic_binary_iarchive<bounded_iarchive>;
  using primitive = binary_iprimitive<bounded_iarchive>;

 public:
  /// Reads from `source`, which must have all its bytes in its get area (as
  /// bytes_source does), so that the bytes left are known.
  bounded_iarchive(std::streambuf& source, unsigned flags) : primitive(source), base(flags) {
    if ((flags & boost::archive::no_header) == 0) {
      base::init();
      primitive::init();
    }
  }

  // Boost calls these through This(); they must be reachable from its templates.
  using primitive::load;

  void load(std::string& s) {
    std::size_t n = 0;
    primitive::load(n);
    require(n, "a string", "bytes");
    s.resize(n);
    if (n > 0)
      load_binary(s.data(), n);
  }

  void load(bool& b) {
    unsigned char c = 0;
    load_binary(&c, 1);
    if (c > 1)
      throw error(errc::serialization_failed,
                  "a bool holds the byte " + std::to_string(c) + " instead of 0 or 1");
    b = c != 0;
  }

  template <class T>
  void load_override(T& t) {
    base::load_override(t);
  }

  void load_override(boost::serialization::collection_size_type& t) {
    base::load_override(t);
    require(static_cast<std::size_t>(t), "a collection", "elements");
  }

  /// Reads an unordered container's bucket count, which is only a hint and may
  /// exceed the bytes left (a container cleared after it grew); the caller never
  /// allocates by it.
  void load_bucket_count(boost::serialization::collection_size_type& t) {
    base::load_override(t);
  }

  /// Bytes not read yet.
  std::size_t remaining() {
    auto n = m_sb.in_avail();
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }

 private:
  void require(std::size_t declared, const char* what, const char* unit) {
    if (declared > remaining())
      throw error(errc::serialization_failed,
                  std::string(what) + " declares " + std::to_string(declared) + " " + unit + " but only "
                    + std::to_string(remaining()) + " bytes are left in the input");
  }
};

/// Boost's load of an unordered container, except that it rehashes for the
/// element count (checked against the input) instead of the bucket count the
/// bytes declare, which no input length bounds.
template <class Container, class InputFunction>
void load_unordered(bounded_iarchive& ar, Container& s) {
  boost::serialization::collection_size_type count;
  boost::serialization::collection_size_type bucket_count;
  boost::serialization::item_version_type item_version(0);
  ar >> count;
  ar.load_bucket_count(bucket_count);
  if (boost::serialization::library_version_type(3) < ar.get_library_version())
    ar >> item_version;
  s.clear();
  s.rehash(std::min<std::size_t>(bucket_count, count));
  InputFunction input;
  for (std::size_t n = count; n > 0; --n)
    input(ar, s, item_version);
}

// Found by argument-dependent lookup from Boost's split_free, and chosen over
// Boost's own overloads because the archive type is exact.
template <class K, class V, class H, class E, class A>
void load(bounded_iarchive& ar, std::unordered_map<K, V, H, E, A>& t, unsigned) {
  using C = std::unordered_map<K, V, H, E, A>;
  load_unordered<C, boost::serialization::stl::archive_input_unordered_map<bounded_iarchive, C>>(ar, t);
}
template <class K, class V, class H, class E, class A>
void load(bounded_iarchive& ar, std::unordered_multimap<K, V, H, E, A>& t, unsigned) {
  using C = std::unordered_multimap<K, V, H, E, A>;
  load_unordered<C, boost::serialization::stl::archive_input_unordered_multimap<bounded_iarchive, C>>(ar, t);
}
template <class K, class H, class E, class A>
void load(bounded_iarchive& ar, std::unordered_set<K, H, E, A>& t, unsigned) {
  using C = std::unordered_set<K, H, E, A>;
  load_unordered<C, boost::serialization::stl::archive_input_unordered_set<bounded_iarchive, C>>(ar, t);
}
template <class K, class H, class E, class A>
void load(bounded_iarchive& ar, std::unordered_multiset<K, H, E, A>& t, unsigned) {
  using C = std::unordered_multiset<K, H, E, A>;
  load_unordered<C, boost::serialization::stl::archive_input_unordered_multiset<bounded_iarchive, C>>(ar, t);
}

/// Boost's load of a vector of bitwise-serializable values (its array-optimized
/// one: the count, then the elements as one block), except that the block must
/// fit in the bytes left, and a large vector is reserved in transparent huge
/// pages before it is resized and filled: with 4 KiB pages, the page faults of a
/// fresh 256 MiB vector cost more than the copy. Other vectors go to Boost.
template <class U, class A>
  requires(!std::is_same_v<U, bool>) // Boost's own overload: a vector<bool> holds bits
void load(bounded_iarchive& ar, std::vector<U, A>& t, unsigned version) {
  using optimized = typename bounded_iarchive::use_array_optimization::template apply<std::remove_const_t<U>>::type;
  if constexpr (optimized::value) {
    boost::serialization::collection_size_type count;
    ar >> count;
    if (static_cast<std::size_t>(count) > ar.remaining() / sizeof(U))
      throw error(errc::serialization_failed,
                  "a vector declares " + std::to_string(static_cast<std::size_t>(count)) + " elements of "
                    + std::to_string(sizeof(U)) + " bytes but only " + std::to_string(ar.remaining())
                    + " bytes are left in the input");
    if (BOOST_SERIALIZATION_VECTOR_VERSIONED(ar.get_library_version())) {
      unsigned int item_version = 0;
      ar >> item_version;
    }
    const std::size_t bytes = static_cast<std::size_t>(count) * sizeof(U);
    if (bytes >= huge_buffer_bytes && t.capacity() < count) {
      std::vector<U, A>().swap(t);
      t.reserve(count);
      advise_huge_pages(t.data(), bytes);
    }
    t.resize(count);
    if (count > 0)
      ar >> boost::serialization::make_array<U, boost::serialization::collection_size_type>(t.data(), count);
  } else {
    boost::serialization::load(ar, t, version, optimized());
  }
}

} // namespace actors::detail

BOOST_SERIALIZATION_REGISTER_ARCHIVE(actors::detail::bounded_iarchive)
BOOST_SERIALIZATION_USE_ARRAY_OPTIMIZATION(actors::detail::bounded_iarchive)

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
/// structs) cannot be longer than what follows it, and the bucket count of an
/// unordered container may exceed the bytes left only up to twice its element
/// count plus 64 (shrink one that was cleared after it grew with rehash(0)).

#include "actors/errors.hpp"

#include <boost/archive/binary_iarchive_impl.hpp>
#include <boost/archive/detail/register_archive.hpp>
#include <boost/serialization/array_optimization.hpp>
#include <boost/serialization/collection_size_type.hpp>

#include <cstddef>
#include <streambuf>
#include <string>

namespace actors::detail {

class bounded_iarchive
  : public boost::archive::binary_iarchive_impl<bounded_iarchive, char, std::char_traits<char>> {
  using base = boost::archive::binary_iarchive_impl<bounded_iarchive, char, std::char_traits<char>>;
  using primitive = boost::archive::basic_binary_iprimitive<bounded_iarchive, char, std::char_traits<char>>;

 public:
  /// Reads from `source`, which must have all its bytes in its get area (as
  /// bytes_source does), so that the bytes left are known.
  bounded_iarchive(std::streambuf& source, unsigned flags) : base(source, flags) {
    init(flags);
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
    // Unordered containers write their element count and then their bucket count.
    // The bucket count is a hint (rehash allocates a pointer per bucket) and may
    // legitimately exceed the bytes left, so a size read right after another one
    // may be up to twice that one plus a little; any other size must fit the input.
    const bool follows_size = remaining() == after_size_;
    base::load_override(t);
    const auto n = static_cast<std::size_t>(t);
    if (!follows_size)
      require(n, "a collection", "elements");
    else if (n > 2 * last_size_ + 64 && n > remaining())
      throw error(errc::serialization_failed,
                  "a collection declares " + std::to_string(n) + " elements (or an unordered container "
                    + std::to_string(n) + " buckets for " + std::to_string(last_size_)
                    + " elements) but only " + std::to_string(remaining())
                    + " bytes are left in the input; an unordered container with many more buckets "
                      "than elements (cleared after it grew) must be shrunk with rehash(0) before it "
                      "is sent");
    last_size_ = n;
    after_size_ = remaining();
  }

  /// Bytes not read yet.
  std::size_t remaining() {
    auto n = m_sb.in_avail();
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }

 private:
  // Where the last collection size ended (as bytes left then) and its value.
  std::size_t after_size_ = static_cast<std::size_t>(-1);
  std::size_t last_size_ = 0;

  void require(std::size_t declared, const char* what, const char* unit) {
    if (declared > remaining())
      throw error(errc::serialization_failed,
                  std::string(what) + " declares " + std::to_string(declared) + " " + unit + " but only "
                    + std::to_string(remaining()) + " bytes are left in the input");
  }
};

} // namespace actors::detail

BOOST_SERIALIZATION_REGISTER_ARCHIVE(actors::detail::bounded_iarchive)
BOOST_SERIALIZATION_USE_ARRAY_OPTIMIZATION(actors::detail::bounded_iarchive)

#pragma once

/// Blocks: the unit a dataset is cut into. A block of a dataset<T> is a
/// std::vector<T>; the executor and the node-side tasks handle it without knowing T,
/// through the `block_ops` of its type. Each type's ops are registered when code
/// that builds a dataset of it is loaded, so every node running dataset operators
/// must load that code (the program itself with --actors-local-nodes, or the library
/// given to `actorsd --load`).

#include <actors/errors.hpp>
#include <actors/serialization.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

namespace actors::data::detail {

using actors::detail::iarchive;
using actors::detail::oarchive;

/// What the executor can do with a block of one element type, without the type.
struct block_ops {
  /// Stable name of the element type (mangled), the same in every process.
  std::string type;
  std::size_t (*rows)(const void* block);
  std::size_t (*bytes)(const void* block);
  void (*save)(oarchive& ar, const void* block);
  std::shared_ptr<const void> (*load)(iarchive& ar);
  std::shared_ptr<const void> (*concat)(const std::vector<const void*>& blocks);
  /// The rows at `index`, in that order.
  std::shared_ptr<const void> (*gather)(const void* block, const std::vector<std::uint32_t>& index);
  std::shared_ptr<const void> (*slice)(const void* block, std::size_t begin, std::size_t end);
  /// Rows copy as bytes (a slice costs a memcpy).
  bool trivially_copyable = false;
  /// Row order by value (stable); null when the type has no operator<.
  std::vector<std::uint32_t> (*argsort)(const void* block, bool descending);
  /// For each row, the index of the range it falls in, given sorted boundaries;
  /// null when the type has no operator<.
  std::vector<std::uint32_t> (*bucket)(const void* block, const void* boundaries, bool descending);
  /// A hash of row `i` (std::hash where the type has one, else of its encoding).
  std::uint64_t (*hash)(const void* block, std::size_t i);
  /// Appends one line per row (as CSV fields if `csv`); null when the type cannot
  /// be written as text.
  void (*write_text)(const void* block, std::string& out, bool csv);
  /// The header line of a CSV file of such rows.
  std::string csv_header;
  /// The sum of the rows as a block of one row; null unless the type is arithmetic.
  std::shared_ptr<const void> (*sum)(const void* block);
};

const block_ops* find_block_ops(const std::string& type);
const block_ops* add_block_ops(const block_ops* ops);

/// A block and its type. Serializes as the type's name and the rows.
struct any_block {
  std::shared_ptr<const void> rows;
  const block_ops* ops = nullptr;

  std::size_t size() const {
    return ops ? ops->rows(rows.get()) : 0;
  }

  template <class Archive>
  void save(Archive& ar, unsigned) const {
    std::string type = ops ? ops->type : std::string();
    ar << type;
    if (ops)
      ops->save(ar, rows.get());
  }
  template <class Archive>
  void load(Archive& ar, unsigned) {
    std::string type;
    ar >> type;
    if (type.empty()) {
      *this = any_block{};
      return;
    }
    ops = find_block_ops(type);
    if (!ops)
      throw not_registered_error("a dataset block of type '" + actors::detail::demangle(type.c_str())
                                 + "' arrived at a node that does not know that type: the code that "
                                   "builds the dataset must be loaded on every node (run the program "
                                   "with --actors-local-nodes, or give its library to actorsd --load)");
    rows = ops->load(ar);
  }
  BOOST_SERIALIZATION_SPLIT_MEMBER()
};

template <class T>
concept ordered = requires(const T& a, const T& b) {
  { a < b } -> std::convertible_to<bool>;
};

template <class T>
concept std_hashable = requires(const T& a) {
  { std::hash<T>{}(a) } -> std::convertible_to<std::size_t>;
};

template <class T>
concept streamable = requires(std::ostream& os, const T& a) { os << a; };

/// One line of text for a value: strings as they are, numbers and other streamable
/// values as `<<` prints them, pairs as "first,second".
template <class T>
void append_text(std::string& out, const T& x, bool csv);

/// Appends `field` as a CSV field, quoted when it is empty or holds a comma, quote
/// or line break.
void append_csv_field(std::string& out, std::string_view field);

template <class T>
struct text_form : std::false_type {};
template <class T>
  requires streamable<T>
struct text_form<T> : std::true_type {};
template <class A, class B>
struct text_form<std::pair<A, B>> : std::bool_constant<text_form<A>::value && text_form<B>::value> {};

template <class T>
void append_text(std::string& out, const T& x, bool csv) {
  if constexpr (std::is_same_v<T, std::string>) {
    if (csv)
      append_csv_field(out, x);
    else
      out += x;
  } else if constexpr (std::is_same_v<T, bool>) {
    out += x ? "true" : "false";
  } else if constexpr (std::is_integral_v<T>) {
    out += std::to_string(x);
  } else if constexpr (requires { x.first; x.second; }) {
    append_text(out, x.first, csv);
    out += ',';
    append_text(out, x.second, csv);
  } else {
    std::ostringstream os;
    os.precision(17);
    os << x;
    out += os.str();
  }
}

/// Rows whose bytes are their value: numbers, and pairs of them. Blocks of these
/// cross nodes as one array of bytes instead of element by element.
template <class T>
struct bytewise : std::bool_constant<std::is_arithmetic_v<T> || std::is_enum_v<T>> {};
template <class A, class B>
struct bytewise<std::pair<A, B>> : std::bool_constant<bytewise<A>::value && bytewise<B>::value> {};

template <class T>
struct typed_block_ops {
  using block = std::vector<T>;
  static const block& of(const void* p) {
    return *static_cast<const block*>(p);
  }
  static std::shared_ptr<const void> make(block&& b) {
    return std::make_shared<const block>(std::move(b));
  }

  static block_ops build() {
    block_ops o;
    o.type = typeid(T).name();
    o.rows = [](const void* p) { return of(p).size(); };
    o.bytes = [](const void* p) { return actors::detail::byte_size(of(p)); };
    o.save = [](oarchive& ar, const void* p) {
      if constexpr (bytewise<T>::value) {
        const block& b = of(p);
        std::uint64_t n = b.size();
        ar << n;
        if (n)
          ar.save_binary(b.data(), n * sizeof(T));
      } else if constexpr (actors::detail::is_serializable_v<block>) {
        ar << of(p);
      } else {
        actors::detail::throw_not_serializable(typeid(block).name());
      }
    };
    o.load = [](iarchive& ar) -> std::shared_ptr<const void> {
      if constexpr (bytewise<T>::value) {
        std::uint64_t n = 0;
        ar >> n;
        block b;
        // A chunk at a time: a count that the bytes do not back fails the read
        // before it allocates much.
        constexpr std::uint64_t chunk = (1u << 20) / sizeof(T) + 1;
        while (b.size() < n) {
          std::size_t at = b.size();
          std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, n - at));
          b.resize(at + take);
          ar.load_binary(b.data() + at, take * sizeof(T));
        }
        return make(std::move(b));
      } else if constexpr (actors::detail::is_serializable_v<block>) {
        block b;
        ar >> b;
        return make(std::move(b));
      } else {
        actors::detail::throw_not_serializable(typeid(block).name());
      }
    };
    o.concat = [](const std::vector<const void*>& parts) {
      std::size_t n = 0;
      for (auto* p : parts)
        n += of(p).size();
      block out;
      out.reserve(n);
      for (auto* p : parts)
        out.insert(out.end(), of(p).begin(), of(p).end());
      return make(std::move(out));
    };
    o.gather = [](const void* p, const std::vector<std::uint32_t>& index) {
      const block& in = of(p);
      block out;
      out.reserve(index.size());
      for (auto i : index)
        out.push_back(in[i]);
      return make(std::move(out));
    };
    o.trivially_copyable = std::is_trivially_copyable_v<T>;
    o.slice = [](const void* p, std::size_t begin, std::size_t end) {
      const block& in = of(p);
      end = std::min(end, in.size());
      begin = std::min(begin, end);
      return make(block(in.begin() + static_cast<std::ptrdiff_t>(begin),
                        in.begin() + static_cast<std::ptrdiff_t>(end)));
    };
    o.argsort = nullptr;
    o.bucket = nullptr;
    if constexpr (ordered<T>) {
      o.argsort = [](const void* p, bool descending) {
        const block& in = of(p);
        std::vector<std::uint32_t> index(in.size());
        std::iota(index.begin(), index.end(), 0u);
        if (descending)
          std::stable_sort(index.begin(), index.end(), [&](auto a, auto b) { return in[b] < in[a]; });
        else
          std::stable_sort(index.begin(), index.end(), [&](auto a, auto b) { return in[a] < in[b]; });
        return index;
      };
      o.bucket = [](const void* p, const void* bounds, bool descending) {
        const block& in = of(p);
        const block& b = of(bounds);
        std::vector<std::uint32_t> out(in.size());
        for (std::size_t i = 0; i < in.size(); ++i) {
          auto it = descending ? std::upper_bound(b.begin(), b.end(), in[i],
                                                  [](const T& x, const T& y) { return y < x; })
                               : std::upper_bound(b.begin(), b.end(), in[i]);
          out[i] = static_cast<std::uint32_t>(it - b.begin());
        }
        return out;
      };
    }
    o.hash = [](const void* p, std::size_t i) -> std::uint64_t {
      const T& x = of(p)[i];
      std::uint64_t h;
      if constexpr (std_hashable<T>)
        h = std::hash<T>{}(x);
      else
        h = std::hash<std::string>{}(actors::detail::encode(x));
      // Mix, so that identity hashes of integers spread over the partitions.
      h ^= h >> 33;
      h *= 0xff51afd7ed558ccdULL;
      h ^= h >> 33;
      return h;
    };
    o.write_text = nullptr;
    if constexpr (text_form<T>::value) {
      o.write_text = [](const void* p, std::string& out, bool csv) {
        for (const T& x : of(p)) {
          append_text(out, x, csv);
          out += '\n';
        }
      };
    }
    if constexpr (requires(const T& x) { x.first; x.second; })
      o.csv_header = "key,value";
    else
      o.csv_header = "value";
    o.sum = nullptr;
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
      o.sum = [](const void* p) {
        T s{};
        for (const T& x : of(p))
          s += x;
        return make(block{s});
      };
    }
    return o;
  }
};

/// The ops of `std::vector<T>` blocks, registered in this process on first use.
template <class T>
const block_ops* ops_for() {
  static const block_ops* ops = add_block_ops(new block_ops(typed_block_ops<T>::build()));
  return ops;
}

/// Registers T's ops when the program (or library) that uses them is loaded, so a
/// node can decode blocks of T before it has run any code of its own with them.
template <class T>
struct block_type {
  static inline const block_ops* const ops = ops_for<T>();
};

template <class T>
any_block make_block(std::vector<T> rows) {
  return any_block{std::make_shared<const std::vector<T>>(std::move(rows)), block_type<T>::ops};
}

template <class T>
const std::vector<T>& rows_of(const any_block& b) {
  static const std::vector<T> none;
  if (!b.ops)
    return none;
  if (b.ops->type != typeid(T).name())
    throw error(errc::type_mismatch, "a dataset block holds '" + actors::detail::demangle(b.ops->type.c_str())
                                       + "' where '" + actors::detail::demangle(typeid(T).name())
                                       + "' was expected");
  return *static_cast<const std::vector<T>*>(b.rows.get());
}

} // namespace actors::data::detail

/// The object store weighs a block by its rows.
template <>
struct actors::detail::byte_size_of<actors::data::detail::any_block> {
  static std::size_t of(const actors::data::detail::any_block& b) {
    return sizeof(b) + (b.ops ? b.ops->bytes(b.rows.get()) : 0);
  }
};

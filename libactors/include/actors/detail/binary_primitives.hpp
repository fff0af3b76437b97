#pragma once

/// The primitive layer of the runtime's Boost binary archives: what
/// boost::archive::basic_binary_oprimitive and basic_binary_iprimitive do, in the
/// same format, without the std::locale those build and destroy in every archive's
/// constructor (Boost 1.74 does it even with `no_codecvt`). A locale copy costs
/// several thousand instructions and three allocations, more than encoding a small
/// task request itself; the runtime opens four archives per remote task.
///
/// Binary archives never use the locale: they move bytes with sputn/sgetn.

#include <boost/archive/archive_exception.hpp>
#include <boost/archive/basic_archive.hpp>
#include <boost/archive/basic_binary_oarchive.hpp>
#include <boost/archive/detail/register_archive.hpp>
#include <boost/serialization/array_optimization.hpp>
#include <boost/serialization/array_wrapper.hpp>
#include <boost/serialization/is_bitwise_serializable.hpp>
#include <boost/serialization/throw_exception.hpp>

#include <cstddef>
#include <cstring>
#include <cwchar>
#include <ios>
#include <streambuf>
#include <string>

namespace actors::detail {

/// Writes primitives as raw bytes to a streambuf, as basic_binary_oprimitive does.
template <class Archive>
class binary_oprimitive {
 public:
  explicit binary_oprimitive(std::streambuf& sb) : m_sb(sb) {}

  template <class T>
  void save(const T& t) {
    save_binary(&t, sizeof(T));
  }
  void save(const bool t) {
    save_binary(&t, sizeof(t));
  }
  void save(const std::string& s) {
    std::size_t l = s.size();
    This()->save(l);
    save_binary(s.data(), l);
  }
  void save(const std::wstring& ws) {
    std::size_t l = ws.size();
    This()->save(l);
    save_binary(ws.data(), l * sizeof(wchar_t));
  }
  void save(const char* s) {
    std::size_t l = std::strlen(s);
    This()->save(l);
    save_binary(s, l);
  }
  void save(const wchar_t* ws) {
    std::size_t l = std::wcslen(ws);
    This()->save(l);
    save_binary(ws, l * sizeof(wchar_t));
  }

  /// The native-format header of an archive opened without `no_header`.
  void init() {
    This()->save(static_cast<unsigned char>(sizeof(int)));
    This()->save(static_cast<unsigned char>(sizeof(long)));
    This()->save(static_cast<unsigned char>(sizeof(float)));
    This()->save(static_cast<unsigned char>(sizeof(double)));
    This()->save(int(1));
  }

  struct use_array_optimization {
    template <class T>
    struct apply : public boost::serialization::is_bitwise_serializable<T> {};
  };

  template <class ValueType>
  void save_array(boost::serialization::array_wrapper<ValueType> const& a, unsigned int) {
    save_binary(a.address(), a.count() * sizeof(ValueType));
  }

  void save_binary(const void* address, std::size_t count) {
    auto n = static_cast<std::streamsize>(count);
    if (m_sb.sputn(static_cast<const char*>(address), n) != n)
      boost::serialization::throw_exception(
        boost::archive::archive_exception(boost::archive::archive_exception::output_stream_error));
  }

 protected:
  Archive* This() {
    return static_cast<Archive*>(this);
  }

 public:
  // Boost's archive layer reads the header through it.
  std::streambuf& m_sb;
};

/// Reads what binary_oprimitive writes, as basic_binary_iprimitive does.
template <class Archive>
class binary_iprimitive {
 public:
  explicit binary_iprimitive(std::streambuf& sb) : m_sb(sb) {}

  template <class T>
  void load(T& t) {
    load_binary(&t, sizeof(T));
  }
  void load(bool& t) {
    load_binary(&t, sizeof(t));
  }
  void load(std::string& s) {
    std::size_t l = 0;
    This()->load(l);
    s.resize(l);
    if (l > 0)
      load_binary(s.data(), l);
  }
  void load(std::wstring& ws) {
    std::size_t l = 0;
    This()->load(l);
    ws.resize(l);
    if (l > 0)
      load_binary(ws.data(), l * sizeof(wchar_t));
  }
  void load(char* s) {
    std::size_t l = 0;
    This()->load(l);
    load_binary(s, l);
    s[l] = '\0';
  }
  void load(wchar_t* ws) {
    std::size_t l = 0;
    This()->load(l);
    load_binary(ws, l * sizeof(wchar_t));
    ws[l] = L'\0';
  }

  /// Checks the native-format header of an archive opened without `no_header`.
  void init() {
    auto expect = [this](unsigned char want, const char* what) {
      unsigned char size = 0;
      This()->load(size);
      if (size != want)
        boost::serialization::throw_exception(
          boost::archive::archive_exception(boost::archive::archive_exception::incompatible_native_format, what));
    };
    expect(sizeof(int), "size of int");
    expect(sizeof(long), "size of long");
    expect(sizeof(float), "size of float");
    expect(sizeof(double), "size of double");
    int i = 0;
    This()->load(i);
    if (i != 1)
      boost::serialization::throw_exception(
        boost::archive::archive_exception(boost::archive::archive_exception::incompatible_native_format,
                                          "endian setting"));
  }

  struct use_array_optimization {
    template <class T>
    struct apply : public boost::serialization::is_bitwise_serializable<T> {};
  };

  template <class ValueType>
  void load_array(boost::serialization::array_wrapper<ValueType>& a, unsigned int) {
    load_binary(a.address(), a.count() * sizeof(ValueType));
  }

  void load_binary(void* address, std::size_t count) {
    auto n = static_cast<std::streamsize>(count);
    if (m_sb.sgetn(static_cast<char*>(address), n) != n)
      boost::serialization::throw_exception(
        boost::archive::archive_exception(boost::archive::archive_exception::input_stream_error));
  }

 protected:
  Archive* This() {
    return static_cast<Archive*>(this);
  }

 public:
  // Boost's archive layer reads the header through it.
  std::streambuf& m_sb;
};

/// Writes boost::archive::binary_oarchive's format (bounded_iarchive reads it).
class binary_oarchive : public binary_oprimitive<binary_oarchive>,
                        public boost::archive::basic_binary_oarchive<binary_oarchive> {
  using primitive = binary_oprimitive<binary_oarchive>;
  using base = boost::archive::basic_binary_oarchive<binary_oarchive>;

 public:
  binary_oarchive(std::streambuf& sink, unsigned flags) : primitive(sink), base(flags) {
    if ((flags & boost::archive::no_header) == 0) {
      base::init();
      primitive::init();
    }
  }

  // Boost calls these through This(); they must be reachable from its templates.
  using primitive::save;

  template <class T>
  void save_override(T& t) {
    base::save_override(t);
  }
};

} // namespace actors::detail

BOOST_SERIALIZATION_REGISTER_ARCHIVE(actors::detail::binary_oarchive)
BOOST_SERIALIZATION_USE_ARRAY_OPTIMIZATION(actors::detail::binary_oarchive)

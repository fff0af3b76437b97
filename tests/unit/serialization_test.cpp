// Values to bytes and back: actors::detail::encode/decode on plain, container and
// user types, the errors for types without an encoding and for malformed bytes,
// and object_ref / actor_handle values that travel inside encoded data.

#include <actors/actors.hpp>

#include <boost/archive/binary_oarchive.hpp>
#include <gtest/gtest.h>

#include <malloc.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <cstdint>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

// -- types under test ---------------------------------------------------------------

struct sample_point {
  std::int32_t x = 0;
  double y = 0;
  std::string label;
  std::vector<std::int64_t> tags;
  std::map<std::string, int> attributes;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & x & y & label & tags & attributes;
  }

  friend bool operator==(const sample_point&, const sample_point&) = default;
};

struct opaque_widget {
  int knob = 0;
};

// -- remote functions and an actor class for the runtime tests -------------------------

std::vector<int> echo_vector(const std::vector<int>& v) {
  return v;
}

std::int64_t sum_vector(const std::vector<int>& v) {
  return std::accumulate(v.begin(), v.end(), std::int64_t{0});
}

class SerCounter {
 public:
  explicit SerCounter(int start) : n_(start) {}
  int add(int d) {
    return n_ += d;
  }
  int value() const {
    return n_;
  }

 private:
  int n_;
};

SerCounter make_ser_counter(int start) {
  return SerCounter(start);
}

ACTORS_REMOTE(echo_vector, sum_vector, make_ser_counter, &SerCounter::add, &SerCounter::value);

/// The node every runtime test starts: two CPUs, defaults otherwise.
actors::init_options two_cpus() {
  actors::init_options o;
  o.num_cpus = 2;
  return o;
}

std::vector<int> iota_vector(std::size_t n) {
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), -17);
  return v;
}

template <class T>
T round_trip(const T& x) {
  return actors::detail::decode<T>(actors::detail::encode(x));
}

class SerializationWithRuntime : public ::testing::Test {
 protected:
  void SetUp() override {
    actors::init(two_cpus());
  }
  void TearDown() override {
    actors::shutdown();
  }
};

// -- traits -------------------------------------------------------------------------

static_assert(actors::detail::is_serializable_v<std::int64_t>);
static_assert(actors::detail::is_serializable_v<double>);
static_assert(actors::detail::is_serializable_v<std::string>);
static_assert(actors::detail::is_serializable_v<std::vector<int>>);
static_assert(actors::detail::is_serializable_v<std::map<std::string, std::vector<double>>>);
static_assert(actors::detail::is_serializable_v<std::pair<int, std::string>>);
static_assert(actors::detail::is_serializable_v<sample_point>);
static_assert(actors::detail::is_serializable_v<std::vector<sample_point>>);
static_assert(!actors::detail::is_serializable_v<opaque_widget>);
static_assert(!actors::detail::is_serializable_v<std::vector<opaque_widget>>);
static_assert(!actors::detail::is_serializable_v<std::map<std::string, opaque_widget>>);
static_assert(!actors::detail::is_serializable_v<std::pair<int, opaque_widget>>);

TEST(Serialization, IsSerializableHoldsForSupportedTypesOnly) {
  using actors::detail::is_serializable_v;
  EXPECT_TRUE(is_serializable_v<std::int64_t>);
  EXPECT_TRUE(is_serializable_v<double>);
  EXPECT_TRUE(is_serializable_v<std::string>);
  EXPECT_TRUE(is_serializable_v<const std::string>);
  EXPECT_TRUE(is_serializable_v<std::vector<int>>);
  EXPECT_TRUE((is_serializable_v<std::map<std::string, std::vector<double>>>));
  EXPECT_TRUE((is_serializable_v<std::pair<int, std::string>>));
  EXPECT_TRUE(is_serializable_v<sample_point>);
  EXPECT_TRUE(is_serializable_v<actors::object_ref<int>>);
  EXPECT_TRUE(is_serializable_v<actors::actor_handle<SerCounter>>);
  EXPECT_FALSE(is_serializable_v<opaque_widget>);
  EXPECT_FALSE(is_serializable_v<std::vector<opaque_widget>>);
  EXPECT_FALSE((is_serializable_v<std::map<int, opaque_widget>>));
  EXPECT_FALSE((is_serializable_v<std::pair<opaque_widget, int>>));
}

// -- round trips ----------------------------------------------------------------------

TEST(Serialization, Int64RoundTrips) {
  for (std::int64_t v : {std::int64_t{0}, std::int64_t{-1}, std::int64_t{42},
                         std::numeric_limits<std::int64_t>::min(),
                         std::numeric_limits<std::int64_t>::max()})
    EXPECT_EQ(round_trip(v), v);
}

TEST(Serialization, DoubleRoundTripsBitForBit) {
  for (double v : {0.0, -0.0, 3.141592653589793, -1e-300, 1e300,
                   std::numeric_limits<double>::denorm_min(),
                   std::numeric_limits<double>::infinity()})
    EXPECT_EQ(round_trip(v), v);
  EXPECT_TRUE(std::signbit(round_trip(-0.0)));
}

TEST(Serialization, StringRoundTripsIncludingEmbeddedNulsAndBinary) {
  EXPECT_EQ(round_trip(std::string{}), "");
  EXPECT_EQ(round_trip(std::string{"hello, world"}), "hello, world");
  std::string binary("a\0b\xff\x01", 5);
  EXPECT_EQ(round_trip(binary), binary);
  std::string big(1 << 20, 'z');
  EXPECT_EQ(round_trip(big), big);
}

TEST(Serialization, HundredThousandIntVectorRoundTrips) {
  auto v = iota_vector(100'000);
  auto bytes = actors::detail::encode(v);
  EXPECT_GE(bytes.size(), v.size() * sizeof(int));
  auto back = actors::detail::decode<std::vector<int>>(bytes);
  ASSERT_EQ(back.size(), v.size());
  EXPECT_EQ(back, v);
}

// The kB of transparent huge pages backing the mapping that holds `p`, from
// /proc/self/smaps; -1 if the mapping is not found. (The advice splits a
// buffer's mapping at the 2 MiB boundaries inside it: ask about a byte in the
// middle.)
long huge_kb_at(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    unsigned long lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2) { // a mapping's first line
      inside = lo <= at && at < hi;
      continue;
    }
    if (inside && line.rfind("AnonHugePages:", 0) == 0)
      return std::stol(line.substr(14));
  }
  return -1;
}

bool huge_pages_on_request() {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes;
  std::getline(f, modes);
  return modes.find("[madvise]") != std::string::npos || modes.find("[always]") != std::string::npos;
}

TEST(Serialization, LargeEncodingsAndDecodedVectorsLiveInHugePages) {
  if (!huge_pages_on_request())
    GTEST_SKIP() << "this kernel gives no transparent huge pages (/sys/kernel/mm/transparent_hugepage/enabled)";
  // `meson test` sets MALLOC_PERTURB_, which makes malloc fill each block: its
  // pages are in place before anything can ask for huge ones. Off for this test.
  ::mallopt(M_PERTURB, 0);
  std::vector<std::uint8_t> v(std::size_t{64} << 20);
  for (std::size_t i = 0; i < v.size(); i += 4096)
    v[i] = static_cast<std::uint8_t>(i >> 12);
  auto bytes = actors::detail::encode(v);
  EXPECT_GT(huge_kb_at(bytes.data() + bytes.size() / 2), 0) << "the encoding of 64 MiB is in 4 KiB pages";
  auto back = actors::detail::decode<std::vector<std::uint8_t>>(bytes);
  EXPECT_GT(huge_kb_at(back.data() + back.size() / 2), 0) << "the decoded 64 MiB vector is in 4 KiB pages";
  EXPECT_TRUE(back == v);
}

TEST(Serialization, LargeVectorsInsideOtherValuesAreDecodedIntoHugePages) {
  if (!huge_pages_on_request())
    GTEST_SKIP() << "this kernel gives no transparent huge pages (/sys/kernel/mm/transparent_hugepage/enabled)";
  ::mallopt(M_PERTURB, 0); // as above
  // Not a vector at the top: the archive's vector load reserves the pages (task
  // arguments are read this way).
  std::pair<int, std::vector<std::uint8_t>> v{7, std::vector<std::uint8_t>(std::size_t{64} << 20, 3)};
  auto bytes = actors::detail::encode(v);
  auto back = actors::detail::decode<std::pair<int, std::vector<std::uint8_t>>>(bytes);
  EXPECT_GT(huge_kb_at(back.second.data() + back.second.size() / 2), 0)
    << "the decoded 64 MiB vector inside a pair is in 4 KiB pages";
  EXPECT_TRUE(back == v);
}

TEST(Serialization, LargeTaskArgumentsAreEncodedIntoHugePages) {
  if (!huge_pages_on_request())
    GTEST_SKIP() << "this kernel gives no transparent huge pages (/sys/kernel/mm/transparent_hugepage/enabled)";
  ::mallopt(M_PERTURB, 0); // as above
  auto args = actors::detail::make_args<std::int32_t, const std::vector<std::uint8_t>&>(
    std::int32_t{1}, std::vector<std::uint8_t>(std::size_t{64} << 20, 5));
  auto bytes = args->encode();
  EXPECT_GT(huge_kb_at(bytes.data() + bytes.size() / 2), 0) << "the encoding of 64 MiB of arguments is in 4 KiB pages";
}

TEST(Serialization, LargeVectorsDecodeRightFromUnalignedBytes) {
  // Doubles that do not lie on an 8-byte boundary are not copied as doubles in
  // one pass; the archive reads them.
  std::vector<double> v(std::size_t{1} << 20);
  std::iota(v.begin(), v.end(), 0.5);
  auto bytes = actors::detail::encode(v);
  std::string shifted = "x" + bytes;
  EXPECT_EQ(actors::detail::decode<std::vector<double>>(shifted.data() + 1, bytes.size()), v);
  EXPECT_EQ(actors::detail::decode<std::vector<double>>(bytes), v);
}

TEST(Serialization, DecodesFromAByteRangeWithoutReadingPastIt) {
  // The encoding sits in the middle of a larger buffer, as in a mapping or a
  // message: only [data, data + size) is read.
  sample_point p{3, -4.5, "in place", {5, 6}, {{"k", 9}}};
  auto bytes = actors::detail::encode(p);
  std::string buffer = "HEAD" + bytes + actors::detail::encode(std::string("trailing garbage"));
  auto back = actors::detail::decode<sample_point>(buffer.data() + 4, bytes.size());
  EXPECT_EQ(back, p);

  // One byte short of the range is malformed, even though the buffer goes on.
  EXPECT_ANY_THROW((void)actors::detail::decode<sample_point>(buffer.data() + 4, bytes.size() - 1));

  // The type-erased decode of the store reads the same range.
  auto v = iota_vector(5000);
  auto vb = actors::detail::encode(v);
  std::string framed = "xy" + vb + "z";
  const auto* ops = actors::detail::ops_of<std::vector<int>>();
  auto value = ops->decode(framed.data() + 2, vb.size());
  EXPECT_EQ(*static_cast<const std::vector<int>*>(value.get()), v);
  EXPECT_ANY_THROW((void)ops->decode(framed.data() + 2, 7));
}

TEST(Serialization, MapOfStringToDoubleVectorsRoundTrips) {
  std::map<std::string, std::vector<double>> m{
    {"empty", {}},
    {"one", {1.5}},
    {"many", {0.25, -2.0, 1e10, 7.0}},
    {"", {42.0}},
  };
  EXPECT_EQ(round_trip(m), m);
}

TEST(Serialization, PairRoundTrips) {
  std::pair<int, std::string> p{-7, "seven"};
  EXPECT_EQ(round_trip(p), p);
  std::pair<double, std::vector<int>> q{2.5, {1, 2, 3}};
  EXPECT_EQ(round_trip(q), q);
}

TEST(Serialization, NestedContainersRoundTrip) {
  std::vector<std::map<std::string, std::vector<std::pair<int, std::string>>>> nested{
    {{"a", {{1, "x"}, {2, "y"}}}, {"b", {}}},
    {},
    {{"c", {{3, "z"}}}},
  };
  EXPECT_EQ(round_trip(nested), nested);

  std::map<int, std::set<std::string>> sets{{1, {"p", "q"}}, {2, {}}};
  EXPECT_EQ(round_trip(sets), sets);
}

TEST(Serialization, UserStructWithSerializeMemberRoundTrips) {
  sample_point p{12, -0.5, "origin", {1, 2, 3}, {{"k", 9}}};
  EXPECT_EQ(round_trip(p), p);

  std::vector<sample_point> many{p, sample_point{}, sample_point{1, 2, "b", {}, {}}};
  EXPECT_EQ(round_trip(many), many);
}

// The runtime's own output archive skips the locale Boost builds per archive; its
// bytes must stay those of Boost's binary_oarchive, which spilled values, the
// saved head state and the fuzz corpus are in.
TEST(Serialization, OutputArchiveWritesBoostBinaryFormat) {
  auto bytes_of = [](const auto& value, auto archive_tag, unsigned flags) {
    using archive = typename decltype(archive_tag)::type;
    std::string out;
    actors::detail::string_sink sink(out);
    {
      archive ar(sink, flags);
      ar << value;
    }
    return out;
  };
  sample_point p{12, -0.5, std::string(300, 'q'), {1, 2, 3}, {{"k", 9}, {"", -1}}};
  std::vector<sample_point> many{p, sample_point{}, p};
  std::map<std::string, std::vector<double>> nested{{"a", {1.5, 2.5}}, {"b", {}}};
  std::tuple<bool, char, std::uint64_t> mixed{true, 'x', 1ull << 40};
  for (unsigned flags : {actors::detail::archive_flags, 0u}) {
    SCOPED_TRACE(flags);
    auto same = [&](const auto& v) {
      EXPECT_EQ(bytes_of(v, std::type_identity<actors::detail::oarchive>{}, flags),
                bytes_of(v, std::type_identity<boost::archive::binary_oarchive>{}, flags));
    };
    same(many);
    same(nested);
    same(std::get<0>(mixed));
    same(std::get<1>(mixed));
    same(std::get<2>(mixed));
    same(std::string("plain"));
  }
  // And the input archive reads Boost's bytes, header included.
  auto boost_bytes = bytes_of(many, std::type_identity<boost::archive::binary_oarchive>{}, 0u);
  actors::detail::bytes_source source(boost_bytes.data(), boost_bytes.size());
  actors::detail::iarchive in(source, 0u);
  std::vector<sample_point> back;
  in >> back;
  EXPECT_EQ(back, many);
}

// -- errors ---------------------------------------------------------------------------

TEST(Serialization, EncodeOfNonSerializableTypeThrowsNamingTheType) {
  try {
    (void)actors::detail::encode(opaque_widget{3});
    FAIL() << "encode of a type without serialize did not throw";
  } catch (const actors::error& e) {
    EXPECT_EQ(e.code(), actors::errc::serialization_failed);
    EXPECT_NE(std::string(e.what()).find("opaque_widget"), std::string::npos) << e.what();
  }
}

TEST(Serialization, DecodeOfNonSerializableTypeThrowsSerializationFailed) {
  try {
    (void)actors::detail::decode<opaque_widget>(std::string("abc"));
    FAIL() << "decode of a type without serialize did not throw";
  } catch (const actors::error& e) {
    EXPECT_EQ(e.code(), actors::errc::serialization_failed);
    EXPECT_NE(std::string(e.what()).find("opaque_widget"), std::string::npos) << e.what();
  }
}

TEST(Serialization, DecodeOfTruncatedBytesThrows) {
  auto bytes = actors::detail::encode(iota_vector(1000));
  for (std::size_t keep : {std::size_t{0}, std::size_t{3}, bytes.size() / 2, bytes.size() - 1})
    EXPECT_ANY_THROW((void)actors::detail::decode<std::vector<int>>(bytes.substr(0, keep)))
      << "kept " << keep << " of " << bytes.size() << " bytes";

  auto s = actors::detail::encode(std::string(100, 'q'));
  EXPECT_ANY_THROW((void)actors::detail::decode<std::string>(s.substr(0, s.size() - 10)));

  auto i = actors::detail::encode(std::int64_t{77});
  EXPECT_ANY_THROW((void)actors::detail::decode<std::int64_t>(i.substr(0, 4)));

  sample_point p{1, 2, "label", {1, 2, 3}, {{"k", 1}}};
  auto sp = actors::detail::encode(p);
  EXPECT_ANY_THROW((void)actors::detail::decode<sample_point>(sp.substr(0, sp.size() - 2)));
}

TEST(Serialization, DecodeOfGarbageBytesThrows) {
  // A length prefix of all ones claims more elements than can exist.
  std::string garbage(32, '\xff');
  EXPECT_ANY_THROW((void)actors::detail::decode<std::string>(garbage));
  EXPECT_ANY_THROW((void)actors::detail::decode<std::vector<int>>(garbage));
  EXPECT_ANY_THROW((void)(actors::detail::decode<std::map<std::string, std::vector<double>>>(garbage)));
  EXPECT_ANY_THROW((void)actors::detail::decode<sample_point>(garbage));
}

namespace {

// The first 8 bytes of `bytes` replaced by `n`, little-endian: a forged length.
std::string with_length(std::string bytes, std::uint64_t n) {
  for (int i = 0; i < 8; ++i)
    bytes[static_cast<std::size_t>(i)] = static_cast<char>(n >> (8 * i));
  return bytes;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const actors::error& e) {
    EXPECT_EQ(e.code(), actors::errc::serialization_failed);
    return e.what();
  }
  return "no error";
}

} // namespace

TEST(Serialization, LengthsLargerThanTheInputAreRefusedBeforeAllocating) {
  // A few bytes that claim a 1 TiB string or a 2^40-element vector: refused with
  // an error naming the declared and the available size, not a huge allocation.
  auto s = with_length(actors::detail::encode(std::string("abc")), std::uint64_t{1} << 40);
  auto why = error_of([&] { (void)actors::detail::decode<std::string>(s); });
  EXPECT_NE(why.find("a string declares 1099511627776 bytes but only 3 bytes are left"), std::string::npos)
    << why;
  auto v = with_length(actors::detail::encode(std::vector<std::int64_t>{1, 2}), std::uint64_t{1} << 40);
  why = error_of([&] { (void)actors::detail::decode<std::vector<std::int64_t>>(v); });
  EXPECT_NE(why.find("a collection declares 1099511627776 elements"), std::string::npos) << why;
}

TEST(Serialization, EncodeIntoWritesWhatEncodeWrites) {
  std::vector<double> v(100'000);
  std::iota(v.begin(), v.end(), 1.0);
  const auto expect = actors::detail::encode(v);
  ASSERT_EQ(actors::detail::encoded_size(v), expect.size()) << "a vector of doubles is written raw";
  std::string out(expect.size(), '\0');
  actors::detail::encode_into(v, out.data(), out.size());
  EXPECT_TRUE(out == expect);

  // A type whose size is not known without encoding it still encodes into a
  // range of its encoding's size.
  std::map<std::string, int> m{{"a", 1}, {"b", 2}};
  EXPECT_EQ(actors::detail::encoded_size(m), 0u);
  const auto mexpect = actors::detail::encode(m);
  std::string mout(mexpect.size(), '\0');
  actors::detail::encode_into(m, mout.data(), mout.size());
  EXPECT_TRUE(mout == mexpect);

  // A range of the wrong size is an error, not an overrun or a short value.
  std::string small(expect.size() - 1, '\0');
  auto why = error_of([&] { actors::detail::encode_into(v, small.data(), small.size()); });
  EXPECT_NE(why.find("needs more"), std::string::npos) << why;
  std::string large(expect.size() + 1, '\0');
  why = error_of([&] { actors::detail::encode_into(v, large.data(), large.size()); });
  EXPECT_NE(why.find("took " + std::to_string(expect.size()) + " of the " + std::to_string(expect.size() + 1)),
            std::string::npos)
    << why;
}

/// A type whose encoding fails inside the archive, not for want of room.
struct refuses_to_encode {
  template <class Archive>
  void serialize(Archive&, unsigned) {
    throw boost::archive::archive_exception(boost::archive::archive_exception::unregistered_class);
  }
};

TEST(Serialization, EncodeIntoSaysRoomIsShortOnlyWhenItIs) {
  std::string out(64, '\0');
  auto why = error_of([&] { actors::detail::encode_into(refuses_to_encode{}, out.data(), out.size()); });
  EXPECT_NE(why.find("encoding a value into 64 bytes failed: "), std::string::npos) << why;
  EXPECT_EQ(why.find("needs more"), std::string::npos) << why;
}

TEST(Serialization, AVectorOfNumbersIsItsHeadAndItsOwnBytes) {
  // The head and the vector's own memory, written one after the other, are
  // exactly its encoding; the body is the vector's memory, not a copy.
  auto same_as_encode = [](const auto& v) {
    auto parts = actors::detail::encoded_in_place(v);
    if (!parts)
      return ::testing::AssertionFailure() << "no encoding in place";
    if (parts->body != reinterpret_cast<const char*>(v.data()))
      return ::testing::AssertionFailure() << "the body is not the vector's memory";
    if (parts->head + std::string(parts->body, parts->body_size) != actors::detail::encode(v))
      return ::testing::AssertionFailure() << "head and body differ from encode()";
    return ::testing::AssertionSuccess();
  };
  std::vector<double> d(10'000);
  std::iota(d.begin(), d.end(), 0.5);
  EXPECT_TRUE(same_as_encode(d));
  EXPECT_TRUE(same_as_encode(std::vector<char>{'a', 'b', 'c'}));
  EXPECT_TRUE(same_as_encode(std::vector<std::int64_t>{}));
  EXPECT_TRUE(same_as_encode(std::vector<std::uint16_t>{1, 2, 3}));
  // Anything else has to be encoded.
  EXPECT_FALSE(actors::detail::encoded_in_place(std::vector<std::string>{"a"}));
  EXPECT_FALSE(actors::detail::encoded_in_place(std::vector<bool>{true}));
  EXPECT_FALSE(actors::detail::encoded_in_place(std::string("abc")));
  // Through the type's operations, as the data channel reaches it.
  const auto* ops = actors::detail::ops_of<std::vector<double>>();
  auto parts = ops->in_place(&d);
  ASSERT_TRUE(parts);
  EXPECT_EQ(parts->head.size() + parts->body_size, actors::detail::encode(d).size());
  using names = std::map<std::string, int>;
  names m{{"a", 1}};
  EXPECT_FALSE(actors::detail::ops_of<names>()->in_place(&m));
}

TEST(Serialization, AVectorOfNumbersIsReceivedStraightIntoItsMemory) {
  std::vector<std::int32_t> sent(300'001);
  std::iota(sent.begin(), sent.end(), -7);
  const auto encoding = actors::detail::encode(sent);
  const auto* ops = actors::detail::type_ops_named(actors::detail::ops_of<std::vector<std::int32_t>>()->name);
  ASSERT_EQ(ops, actors::detail::ops_of<std::vector<std::int32_t>>()) << "ops_of makes a type findable by its name";
  auto r = ops->receive_in_place(encoding.size());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->head_size + r->body_size, encoding.size());
  // The bytes arrive in pieces: the head, then the body a step at a time, each
  // written where grow() says, which never moves what came before.
  std::string head = encoding.substr(0, r->head_size);
  char* first = nullptr;
  for (std::size_t at = 0; at < r->body_size;) {
    const std::size_t through = std::min(r->body_size, at + 65'536 + 3);
    char* data = r->grow(r->value.get(), through, r->body_size);
    if (!first)
      first = data;
    ASSERT_EQ(data, first) << "the value moved while it was being received";
    std::memcpy(data + at, encoding.data() + r->head_size + at, through - at);
    at = through;
  }
  EXPECT_TRUE(r->head_matches(r->value.get(), head, r->body_size));
  EXPECT_EQ(*static_cast<const std::vector<std::int32_t>*>(r->value.get()), sent);

  // A head that names another count, or another prefix, is not this value's.
  std::string wrong = head;
  wrong[wrong.size() - 8] ^= 1;
  EXPECT_FALSE(r->head_matches(r->value.get(), wrong, r->body_size));
  EXPECT_FALSE(r->head_matches(r->value.get(), head.substr(1), r->body_size));

  // A size no encoding of such a vector has, and types that are decoded instead.
  EXPECT_FALSE(ops->receive_in_place(encoding.size() + 1));
  EXPECT_FALSE(ops->receive_in_place(r->head_size - 1));
  EXPECT_FALSE(actors::detail::ops_of<std::vector<std::string>>()->receive_in_place(64));
  EXPECT_FALSE(actors::detail::ops_of<std::string>()->receive_in_place(64));
  EXPECT_EQ(actors::detail::type_ops_named("no such type"), nullptr);
}

TEST(Serialization, AVectorWhoseElementsRunPastTheInputIsRefused) {
  // Three 8-byte elements declared, two there: the count alone fits the bytes
  // left (16), the elements do not.
  auto two = actors::detail::encode(std::vector<std::int64_t>{1, 2});
  auto v = with_length(two, 3);
  auto why = error_of([&] { (void)actors::detail::decode<std::vector<std::int64_t>>(v); });
  EXPECT_NE(why.find("a vector declares 3 elements of 8 bytes but only 16 bytes are left"), std::string::npos)
    << why;
  // Inside another value too.
  auto pair = actors::detail::encode(std::make_pair(std::int32_t{5}, std::vector<std::int64_t>{1, 2}));
  const auto count_at = pair.size() - 8 - 16; // the vector's count, then its two elements
  std::string forged = pair.substr(0, count_at) + with_length(pair.substr(count_at), 3);
  why = error_of([&] { (void)actors::detail::decode<std::pair<std::int32_t, std::vector<std::int64_t>>>(forged); });
  EXPECT_NE(why.find("a vector declares 3 elements"), std::string::npos) << why;
}

TEST(Serialization, BoolThatIsNeitherZeroNorOneIsRefused) {
  auto b = actors::detail::encode(true);
  b[0] = 7;
  auto why = error_of([&] { (void)actors::detail::decode<bool>(b); });
  EXPECT_NE(why.find("a bool holds the byte 7"), std::string::npos) << why;
}

TEST(Serialization, SmallUnorderedContainersWithManyBucketsRoundTrip) {
  // Their bucket count exceeds the bytes of their elements; that is not malformed.
  std::unordered_set<int> one{42};
  EXPECT_EQ(actors::detail::decode<std::unordered_set<int>>(actors::detail::encode(one)), one);
  std::unordered_map<char, char> chars;
  for (char c = 'a'; c <= 'z'; ++c)
    chars[c] = c;
  EXPECT_EQ((actors::detail::decode<std::unordered_map<char, char>>(actors::detail::encode(chars))), chars);
}

TEST(Serialization, UnorderedContainerClearedAfterGrowingRoundTrips) {
  // Its bucket count is far above its elements and bytes: only a hint, which the
  // decoder does not allocate by.
  std::unordered_map<std::string, int> shrunk;
  for (int i = 0; i < 5000; ++i)
    shrunk[std::to_string(i)] = i;
  for (int i = 1; i < 5000; ++i)
    shrunk.erase(std::to_string(i));
  std::unordered_set<std::string> cleared;
  cleared.rehash(100000);
  EXPECT_EQ((actors::detail::decode<std::unordered_map<std::string, int>>(actors::detail::encode(shrunk))), shrunk);
  EXPECT_TRUE(actors::detail::decode<std::unordered_set<std::string>>(actors::detail::encode(cleared)).empty());
  // A forged bucket count of 2^60 costs nothing either.
  auto bytes = actors::detail::encode(std::unordered_set<int>{1, 2});
  for (int i = 0; i < 8; ++i)
    bytes[8 + static_cast<std::size_t>(i)] = static_cast<char>(i == 7 ? 0x10 : 0);
  EXPECT_EQ(actors::detail::decode<std::unordered_set<int>>(bytes), (std::unordered_set<int>{1, 2}));
}

// -- references inside encoded data -------------------------------------------------------

TEST_F(SerializationWithRuntime, ObjectRefsInsideAVectorDecodeToTheSameObjects) {
  std::vector<actors::object_ref<std::string>> refs{actors::put(std::string("first")),
                                                    actors::put(std::string("second")),
                                                    actors::put(std::string("third"))};
  auto bytes = actors::detail::encode(refs);
  auto back = actors::detail::decode<std::vector<actors::object_ref<std::string>>>(bytes);
  ASSERT_EQ(back.size(), refs.size());
  for (std::size_t i = 0; i < refs.size(); ++i) {
    EXPECT_EQ(back[i].id(), refs[i].id());
    EXPECT_TRUE(back[i] == refs[i]);
  }
  // The decoded refs keep the objects alive on their own.
  refs.clear();
  EXPECT_EQ(actors::get(back[0]), "first");
  EXPECT_EQ(actors::get(back[1]), "second");
  EXPECT_EQ(actors::get(back[2]), "third");
}

TEST_F(SerializationWithRuntime, ObjectRefToATaskResultDecodesAndGets) {
  auto ref = actors::task(sum_vector).remote(iota_vector(10));
  auto back = actors::detail::decode<std::vector<actors::object_ref<std::int64_t>>>(
    actors::detail::encode(std::vector<actors::object_ref<std::int64_t>>{ref}));
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].id(), ref.id());
  EXPECT_EQ(actors::get(back[0]), 10 * (-17) + 45);
}

TEST_F(SerializationWithRuntime, EmptyObjectRefRoundTripsAsEmpty) {
  std::vector<actors::object_ref<int>> refs(2);
  auto back = actors::detail::decode<std::vector<actors::object_ref<int>>>(actors::detail::encode(refs));
  ASSERT_EQ(back.size(), 2u);
  EXPECT_FALSE(back[0]);
  EXPECT_FALSE(back[1]);
}

TEST_F(SerializationWithRuntime, ActorHandlesInsideAVectorDecodeToTheSameActor) {
  std::vector<actors::actor_handle<SerCounter>> handles{actors::actor(make_ser_counter).remote(10),
                                                        actors::actor(make_ser_counter).remote(20)};
  auto bytes = actors::detail::encode(handles);
  auto back = actors::detail::decode<std::vector<actors::actor_handle<SerCounter>>>(bytes);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].id(), handles[0].id());
  EXPECT_EQ(back[1].id(), handles[1].id());
  ASSERT_TRUE(back[0]);
  ASSERT_TRUE(back[1]);
  // Calls through the decoded handles reach the same instances.
  EXPECT_EQ(actors::get(back[0].task(&SerCounter::add).remote(5)), 15);
  EXPECT_EQ(actors::get(handles[0].task(&SerCounter::value).remote()), 15);
  EXPECT_EQ(actors::get(back[1].task(&SerCounter::value).remote()), 20);
}

/// Bytes of a vector holding one ref to an object that is freed once they exist.
std::string bytes_naming_a_freed_object(actors::object_id& id) {
  std::vector<actors::object_ref<int>> refs{actors::put(1234)};
  id = refs[0].id();
  return actors::detail::encode(refs);
} // the last reference goes: the object is freed

TEST_F(SerializationWithRuntime, RefToAFreedObjectDecodesToALostObject) {
  actors::object_id id;
  auto bytes = bytes_naming_a_freed_object(id);
  auto back = actors::detail::decode<std::vector<actors::object_ref<int>>>(bytes);
  ASSERT_EQ(back.size(), 1u);
  ASSERT_TRUE(back[0]);
  try {
    (void)actors::get(back[0]);
    FAIL() << "get of a freed object did not throw";
  } catch (const actors::object_lost_error& e) {
    EXPECT_EQ(e.code(), actors::errc::object_lost);
    EXPECT_NE(std::string(e.what()).find(id.to_string()), std::string::npos) << e.what();
  }
}

TEST_F(SerializationWithRuntime, DecodedRefToAFreedObjectKeepsTheEncodedId) {
  actors::object_id id;
  auto bytes = bytes_naming_a_freed_object(id);
  auto back = actors::detail::decode<std::vector<actors::object_ref<int>>>(bytes);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].id().to_string(), id.to_string())
    << "a decoded ref names another object than the one encoded";
  // Decoding the same bytes twice names the same object both times.
  auto again = actors::detail::decode<std::vector<actors::object_ref<int>>>(bytes);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].id().to_string(), back[0].id().to_string());
}

// -- large values through the runtime --------------------------------------------------

TEST_F(SerializationWithRuntime, HundredThousandIntVectorRoundTripsThroughATask) {
  auto v = iota_vector(100'000);
  auto out = actors::get(actors::task(echo_vector).remote(v));
  ASSERT_EQ(out.size(), v.size());
  EXPECT_EQ(out, v);
  EXPECT_EQ(actors::get(actors::task(sum_vector).remote(v)),
            std::accumulate(v.begin(), v.end(), std::int64_t{0}));
}

TEST_F(SerializationWithRuntime, HundredThousandIntVectorRoundTripsThroughPutAndGet) {
  auto v = iota_vector(100'000);
  auto ref = actors::put(v);
  EXPECT_EQ(actors::get(ref), v);
  // And as a dataflow argument to a task.
  EXPECT_EQ(actors::get(actors::task(echo_vector).remote(ref)), v);
}

} // namespace

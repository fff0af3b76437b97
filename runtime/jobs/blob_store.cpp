#include "runtime/jobs/blob_store.hpp"

#include "actors/errors.hpp"

#include <openssl/evp.h>

#include <fstream>
#include <memory>
#include <system_error>
#include <vector>

namespace actors::runtime {

namespace {

// One SHA-256 computation over pieces of input.
class sha256 {
 public:
  sha256() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1)
      throw error(errc::invalid_argument, "cannot start a SHA-256 computation (libcrypto)");
  }

  void add(const char* data, std::size_t size) {
    EVP_DigestUpdate(ctx_.get(), data, size);
  }

  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_DigestFinal_ex(ctx_.get(), digest, &length);
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < length; ++i) {
      out += digits[digest[i] >> 4];
      out += digits[digest[i] & 15];
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

} // namespace

std::string sha256_hex(const std::string& bytes) {
  sha256 h;
  h.add(bytes.data(), bytes.size());
  return h.hex();
}

std::string sha256_of_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in)
    throw error(errc::invalid_argument, "cannot read " + file.string());
  sha256 h;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.add(buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad())
    throw error(errc::invalid_argument, "cannot read " + file.string());
  return h.hex();
}

bool is_sha256_hex(const std::string& text) {
  if (text.size() != 64)
    return false;
  for (char c : text)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  return true;
}

blob_store::blob_store(std::filesystem::path dir) : dir_(std::move(dir)) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec || !std::filesystem::is_directory(dir_))
    throw error(errc::invalid_argument, "cannot make the directory " + dir_.string() + " for job files: "
                                          + ec.message());
}

bool blob_store::has(const std::string& hash) const {
  std::error_code ec;
  return is_sha256_hex(hash) && std::filesystem::exists(path(hash), ec);
}

std::filesystem::path blob_store::path(const std::string& hash) const {
  return dir_ / hash;
}

std::filesystem::path blob_store::partial(const std::string& hash) const {
  return dir_ / (hash + ".part");
}

std::string blob_store::write(const std::string& hash, std::uint64_t offset, const std::string& bytes, bool last) {
  if (!is_sha256_hex(hash))
    return std::string("'").append(hash, 0, 80).append("' is not a SHA-256 hash (64 lowercase hex digits)");
  std::lock_guard<std::mutex> guard{mu_};
  if (has(hash))
    return {};
  std::error_code ec;
  auto part = partial(hash);
  auto have = std::filesystem::exists(part, ec) ? std::filesystem::file_size(part, ec) : 0;
  if (offset != 0 && offset != have)
    return "chunk at offset " + std::to_string(offset) + " of " + hash + " does not follow the " +
           std::to_string(have) + " bytes received: upload the file again from offset 0";
  std::ofstream out(part, std::ios::binary | (offset == 0 ? std::ios::trunc : std::ios::app));
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out)
    return "cannot write " + part.string() + ": is its disk full?";
  if (!last)
    return {};
  std::string got;
  try {
    got = sha256_of_file(part);
  } catch (const std::exception& e) {
    return e.what();
  }
  if (got != hash) {
    std::filesystem::remove(part, ec);
    return "the file uploaded as " + hash + " has the hash " + got + ": it changed while it was sent, or was cut";
  }
  std::filesystem::rename(part, path(hash), ec);
  if (ec)
    return "cannot keep " + path(hash).string() + ": " + ec.message();
  return {};
}

std::string blob_store::read(const std::string& hash, std::uint64_t offset, std::size_t max, bool& last) const {
  if (!has(hash))
    throw error(errc::invalid_argument, "no job file with hash '" + hash.substr(0, 80) + "' here");
  std::ifstream in(path(hash), std::ios::binary);
  in.seekg(0, std::ios::end);
  auto size = static_cast<std::uint64_t>(in.tellg());
  if (offset > size)
    throw error(errc::invalid_argument, "offset " + std::to_string(offset) + " is past the end of job file " + hash);
  std::string out(static_cast<std::size_t>(std::min<std::uint64_t>(max, size - offset)), '\0');
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  last = offset + out.size() >= size;
  return out;
}

std::string blob_store::add_file(const std::filesystem::path& file) {
  auto hash = sha256_of_file(file);
  std::lock_guard<std::mutex> guard{mu_};
  if (has(hash))
    return hash;
  std::error_code ec;
  std::filesystem::copy_file(file, partial(hash), std::filesystem::copy_options::overwrite_existing, ec);
  if (!ec)
    std::filesystem::rename(partial(hash), path(hash), ec);
  if (ec)
    throw error(errc::invalid_argument, "cannot copy " + file.string() + " into " + dir_.string() + ": " + ec.message());
  return hash;
}

} // namespace actors::runtime

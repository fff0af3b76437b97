#include "runtime/secure/certs.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <sys/stat.h>

#include <cctype>
#include <cstdio>
#include <functional>
#include <filesystem>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace actors::runtime {

namespace {

struct key_free {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct cert_free {
  void operator()(X509* c) const { X509_free(c); }
};
using key_ptr = std::unique_ptr<EVP_PKEY, key_free>;
using cert_ptr = std::unique_ptr<X509, cert_free>;

[[noreturn]] void openssl_failed(const std::string& what) {
  char buf[256] = "unknown error";
  if (auto code = ERR_get_error())
    ERR_error_string_n(code, buf, sizeof buf);
  throw std::runtime_error(what + ": " + buf);
}

key_ptr new_key() {
  key_ptr k(EVP_EC_gen("P-256"));
  if (!k)
    openssl_failed("cannot make a P-256 key");
  return k;
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext)
    openssl_failed("cannot set certificate extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

/// A certificate for `name`, valid `days`, signed by `issuer_key` (self-signed
/// when `issuer` is null).
cert_ptr make_cert(const std::string& name, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, int days, bool ca,
                   const std::string& alt_names) {
  cert_ptr cert(X509_new());
  if (!cert)
    openssl_failed("cannot make a certificate");
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1)
    openssl_failed("cannot draw a serial number");
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 86400);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* subject = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("actors cluster"), -1,
                             -1, 0);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(name.c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : subject);
  X509* signer = issuer ? issuer : cert.get();
  if (ca) {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), signer, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    add_extension(cert.get(), signer, NID_ext_key_usage, "serverAuth,clientAuth");
    if (!alt_names.empty())
      add_extension(cert.get(), signer, NID_subject_alt_name, alt_names);
  }
  add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) == 0)
    openssl_failed("cannot sign the certificate of " + name);
  return cert;
}

void write_pem(const std::filesystem::path& path, const std::function<int(BIO*)>& write, bool secret) {
  std::filesystem::remove(path);
  BIO* bio = BIO_new_file(path.c_str(), "w");
  if (!bio)
    openssl_failed("cannot write " + path.string());
  if (secret)
    ::chmod(path.c_str(), 0600);
  bool ok = write(bio) == 1;
  BIO_free(bio);
  if (!ok)
    openssl_failed("cannot write " + path.string());
}

void write_key(const std::filesystem::path& path, EVP_PKEY* key) {
  write_pem(path, [key](BIO* b) { return PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); },
            true);
}

void write_cert(const std::filesystem::path& path, X509* cert) {
  write_pem(path, [cert](BIO* b) { return PEM_write_bio_X509(b, cert); }, false);
}

/// "IP:10.0.0.5" or "DNS:node-a".
std::string alt_name(const std::string& host) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1)
    return "IP:" + host;
  return "DNS:" + host;
}

bool valid_host(const std::string& host) {
  if (host.empty() || host == "ca" || host == "client" || host.size() > 253)
    return false;
  for (char c : host)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '_'))
      return false;
  return true;
}

} // namespace

int make_certs(const std::string& out, std::vector<std::string> hosts, int days) {
  if (days < 1 || days > 36500) {
    std::cerr << "actors certs: --days takes a whole number of days from 1 to 36500, not " << days << "\n";
    return 2;
  }
  for (const auto& h : hosts)
    if (!valid_host(h)) {
      std::cerr << "actors certs: '" << h
                << "' is not a host name or address (letters, digits, '.', '-', ':'; not 'ca' or 'client')\n";
      return 2;
    }
  try {
    std::filesystem::path dir(out);
    std::filesystem::create_directories(dir);
    if (std::filesystem::exists(dir / "ca.key")) {
      std::cerr << "actors certs: " << (dir / "ca.key").string()
                << " exists already: a new CA would not trust the certificates made with it; use another --out\n";
      return 2;
    }
    auto ca_key = new_key();
    auto ca = make_cert("actors cluster CA", ca_key.get(), nullptr, ca_key.get(), days, true, "");
    write_key(dir / "ca.key", ca_key.get());
    write_cert(dir / "ca.pem", ca.get());
    std::vector<std::string> made{"ca.pem", "ca.key"};
    hosts.push_back("client");
    for (const auto& h : hosts) {
      auto key = new_key();
      auto cert = make_cert(h, key.get(), ca.get(), ca_key.get(), days, false, h == "client" ? "" : alt_name(h));
      write_key(dir / (h + ".key"), key.get());
      write_cert(dir / (h + ".pem"), cert.get());
      made.push_back(h + ".pem");
      made.push_back(h + ".key");
    }
    std::cout << "wrote to " << dir.string() << ":";
    for (const auto& f : made)
      std::cout << " " << f;
    std::cout << "\nstart each host's processes with --tls-cert " << (dir / "HOST.pem").string() << " --tls-key "
              << (dir / "HOST.key").string() << " --tls-ca " << (dir / "ca.pem").string()
              << "\n(drivers and the actors command: client.pem and client.key); keep ca.key off the hosts\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "actors certs: " << e.what() << "\n";
    return 1;
  }
}

} // namespace actors::runtime

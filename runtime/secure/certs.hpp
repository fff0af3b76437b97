#pragma once

// `actors certs`: the files a TLS cluster needs, made with the OpenSSL library.

#include <string>
#include <vector>

namespace actors::runtime {

/// Runs `actors certs --out DIR [--hosts H1,H2,...] [--days N]`: writes
/// DIR/ca.pem and DIR/ca.key (a new CA), DIR/HOST.pem and DIR/HOST.key for each
/// of `hosts` (its name or address as subject alternative name), and
/// DIR/client.pem and DIR/client.key for drivers and the `actors` command, each
/// valid for `days`. Keys are written readable by their owner
/// only. Returns the exit status; prints what it wrote, or why it could not.
int make_certs(const std::string& out, std::vector<std::string> hosts, int days);

} // namespace actors::runtime

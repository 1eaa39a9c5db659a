#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "exporter/web_config.h"

namespace pgwarden {

// A TlsServerConfig with its certificate, key and client CAs read and
// checked: what one handshake needs. Immutable once loaded.
class TlsMaterial {
 public:
  // Reads the PEM files or inline PEM. Throws std::invalid_argument with a
  // one-line reason (unreadable file, key not matching the certificate, no
  // certificate in the client CA, unknown cipher). Never includes key data
  // in the reason.
  static std::shared_ptr<const TlsMaterial> Load(const TlsServerConfig& config);
  ~TlsMaterial();
  TlsMaterial(const TlsMaterial&) = delete;
  TlsMaterial& operator=(const TlsMaterial&) = delete;

  struct Handles;
  const Handles& handles() const { return *handles_; }
  const TlsServerConfig& config() const { return config_; }

 private:
  TlsMaterial() = default;
  TlsServerConfig config_;
  std::unique_ptr<Handles> handles_;
};

// The OpenSSL server context CivetWeb uses. Each new connection takes the
// material current at its ClientHello (certificate, key, protocol versions,
// ciphers, curves, client-certificate policy and allowed SANs), so swapping
// the material with Use() applies to the next handshake without a restart;
// connections already established keep theirs.
class TlsContext {
 public:
  explicit TlsContext(std::shared_ptr<const TlsMaterial> material);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  void Use(std::shared_ptr<const TlsMaterial> material);
  std::shared_ptr<const TlsMaterial> Current() const;

  // The SSL_CTX*, owned by this object.
  void* ssl_ctx() const { return ctx_; }

 private:
  void* ctx_ = nullptr;
  mutable std::mutex mu_;
  std::shared_ptr<const TlsMaterial> material_;
};

}  // namespace pgwarden

#include "exporter/http_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "exporter/log.h"
#include "exporter/strings.h"
#include "exporter/text.h"
#include "exporter/web_access.h"

namespace pgwarden {
namespace {

std::string HtmlEscape(std::string_view text) {
  std::string out;
  for (char c : SanitizeLabelValue(text)) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

constexpr size_t kMaxTargetBytes = 4096;

struct Counters {
  std::atomic<uint64_t> method{0}, uri_too_long{0}, rate_limited{0},
      unauthorized{0}, overloaded{0};
  // The last answer of telemetry_path: uncompressed bytes and series.
  std::atomic<uint64_t> last_bytes{0}, last_series{0};
};

// True when `header` (a Connection header) lists `option`.
bool HasOption(std::string_view header, std::string_view option) {
  for (const std::string& item : SplitList(header)) {
    if (item.size() == option.size() &&
        std::equal(item.begin(), item.end(), option.begin(),
                   [](char x, char y) {
                     return std::tolower(static_cast<unsigned char>(x)) == y;
                   })) {
      return true;
    }
  }
  return false;
}

// One response, written with as few mg_writes as it takes: status line,
// headers (the web config's extra ones included) and the body's small
// pieces gathered into one write, a large piece (a shared part of the
// exposition) written from where it lies, never copied. CivetWeb's header
// functions write each header line separately, which over TLS is one
// record and one TCP segment each, and without TCP_NODELAY (which Debian's
// CivetWeb does not set) the last segments wait for the client's delayed
// ACK: 40 ms per TLS response.
class Response {
 public:
  static constexpr size_t kGatherBelow = 64 * 1024;

  Response(mg_connection* conn, const WebAccess* access)
      : conn_(conn), access_(access) {}

  // The connection closes after this response (its request may carry a
  // body that nobody read).
  void Close() {
    close_ = true;
    mg_disable_connection_keep_alive(conn_);
  }

  void Send(
      int status, const std::string& content_type, const std::string& body,
      std::initializer_list<std::pair<const char*, std::string>> extra = {}) {
    Body pieces;
    pieces.pieces.push_back(std::shared_ptr<const std::string>(
        std::shared_ptr<const std::string>(), &body));  // not owned
    Send(status, content_type, pieces, extra);
  }

  // Sends `body`'s pieces as they are: the shared ones are never copied.
  void Send(
      int status, const std::string& content_type, const Body& body,
      std::initializer_list<std::pair<const char*, std::string>> extra = {}) {
    const mg_request_info* info = mg_get_request_info(conn_);
    const bool head = std::strcmp(info->request_method, "HEAD") == 0;
    const size_t size = body.size();
    std::string out;
    out.reserve(256 + (head ? 0 : std::min(size, kGatherBelow)));
    out += "HTTP/1.1 " + std::to_string(status) + " " +
           mg_get_response_code_text(conn_, status) +
           "\r\nContent-Type: " + content_type + "\r\n";
    // A HEAD of /metrics is answered without collecting: no length to tell.
    if (!head || size > 0) {
      out += "Content-Length: " + std::to_string(size) + "\r\n";
    }
    out += "Cache-Control: no-store\r\n";
    for (const auto& [name, value] : extra) {
      out += std::string(name) + ": " + value + "\r\n";
    }
    if (access_) {
      for (const auto& [name, value] : access_->Headers()) {
        out += name + ": " + value + "\r\n";
      }
    }
    // CivetWeb's own rule: keep alive if the client asks for it, or speaks
    // HTTP/1.1 and does not ask to close.
    const char* connection = mg_get_header(conn_, "Connection");
    const bool keep_alive =
        !close_ && (connection ? HasOption(connection, "keep-alive")
                               : std::strcmp(info->http_version, "1.1") == 0);
    if (!keep_alive && !close_) Close();
    out += keep_alive ? "Connection: keep-alive\r\n\r\n"
                      : "Connection: close\r\n\r\n";
    for (const auto& piece : body.pieces) {
      if (head) break;
      if (piece->size() < kGatherBelow) {
        // Many small pieces (one database's share of a family each) go out
        // in writes of about kGatherBelow, not gathered into one copy.
        out += *piece;
        if (out.size() >= kGatherBelow) {
          if (!Write(out)) return;
          out.clear();
        }
        continue;
      }
      if (!Write(out) || !Write(*piece)) return;
      out.clear();
    }
    Write(out);
  }

  void Text(
      int status, const std::string& body,
      std::initializer_list<std::pair<const char*, std::string>> extra = {}) {
    Send(status, "text/plain; charset=utf-8", body, extra);
  }

 private:
  // Writes all of `data`, in slices: CivetWeb's mg_write may write less
  // than it is given (a multi-megabyte answer lost its tail), and says how
  // much it wrote. False when the client is gone; the connection closes.
  bool Write(std::string_view data) {
    constexpr size_t kSlice = 256 * 1024;
    while (!data.empty()) {
      const int n = mg_write(conn_, data.data(), std::min(data.size(), kSlice));
      if (n <= 0) {
        Close();
        return false;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  mg_connection* conn_;
  const WebAccess* access_;
  bool close_ = false;
};

// CivetWeb does not expose its listening sockets: they are found among the
// process's descriptors as listening IPv4 sockets on `ports`.
std::vector<int> ListeningSockets(const std::vector<int>& ports) {
  std::vector<int> out;
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return out;
  while (const dirent* entry = readdir(dir)) {
    const int fd = std::atoi(entry->d_name);
    if (fd <= 2 || fd == dirfd(dir)) continue;
    int listening = 0;
    socklen_t size = sizeof(listening);
    sockaddr_in addr{};
    socklen_t addr_size = sizeof(addr);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) != 0 ||
        !listening ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &addr_size) != 0 ||
        addr.sin_family != AF_INET ||
        std::find(ports.begin(), ports.end(), ntohs(addr.sin_port)) ==
            ports.end()) {
      continue;
    }
    out.push_back(fd);
  }
  closedir(dir);
  return out;
}

}  // namespace

struct HttpServer::Impl {
  HttpOptions options;
  HttpHandlers handlers;
  WebAccess* access = nullptr;
  mg_context* ctx = nullptr;
  std::vector<int> listeners;  // CivetWeb's; it closes them in mg_stop
  std::atomic<int> scrapes_in_flight{0};
  Counters counters;

  int Handle(mg_connection* conn);
  int Metrics(mg_connection* conn, Response& response);
  int Probe(mg_connection* conn, Response& response);
  // What a scrape and a probe share: --web.max-requests (503 beyond), HEAD
  // answered at once, the deadline from Prometheus' header, and a 500 with
  // the reason when `serve` throws. Returns the status sent.
  int Serve(mg_connection* conn, Response& response, const char* what,
            const std::function<int(Clock::time_point)>& serve);
  // Admits a scrape or probe under --web.max-requests: false (503 sent)
  // when too many are in flight; true obliges a call to Release().
  bool Admit(Response& response);
  void Release() {
    if (options.max_requests > 0) scrapes_in_flight.fetch_sub(1);
  }
  // Sends `exposition`. `built` is told its uncompressed size once the
  // body is built and before a byte is sent, so that a client that reads
  // the whole answer and asks again is told about that answer.
  void SendExposition(mg_connection* conn, Response& response,
                      const Exposition& exposition,
                      const std::function<void(size_t)>& built = nullptr);
  Families OwnMetrics() const;
};

Families HttpServer::Impl::OwnMetrics() const {
  Families out;
  FamilyBuilder rejected(
      "pgwarden_http_requests_rejected_total",
      "HTTP requests refused before reaching a handler, by reason: method "
      "(405), uri_too_long (414), rate_limited (429), unauthorized (401), "
      "overloaded (503: more than --web.max-requests scrapes at once).",
      prometheus::MetricType::Counter);
  const std::pair<const char*, const std::atomic<uint64_t>*> reasons[] = {
      {"method", &counters.method},
      {"uri_too_long", &counters.uri_too_long},
      {"rate_limited", &counters.rate_limited},
      {"unauthorized", &counters.unauthorized},
      {"overloaded", &counters.overloaded},
  };
  for (const auto& [reason, value] : reasons) {
    rejected.Add({{"reason", reason}}, static_cast<double>(value->load()));
  }
  rejected.MoveTo(out);
  FamilyBuilder("pgwarden_scrape_response_bytes",
                "Size of the previous answer of the metrics path, before "
                "compression: what a query that explodes its cardinality "
                "shows first.",
                prometheus::MetricType::Gauge)
      .Add(static_cast<double>(counters.last_bytes.load()))
      .MoveTo(out);
  FamilyBuilder("pgwarden_scrape_series",
                "Series in the previous answer of the metrics path (a "
                "histogram counts once).",
                prometheus::MetricType::Gauge)
      .Add(static_cast<double>(counters.last_series.load()))
      .MoveTo(out);
  if (access) {
    for (auto& f : access->Metrics()) out.push_back(std::move(f));
  }
  if (handlers.extra_metrics) {
    for (auto& f : handlers.extra_metrics()) out.push_back(std::move(f));
  }
  return out;
}

bool HttpServer::Impl::Admit(Response& response) {
  if (options.max_requests > 0 &&
      scrapes_in_flight.fetch_add(1) >= options.max_requests) {
    scrapes_in_flight.fetch_sub(1);
    counters.overloaded++;
    response.Close();
    response.Text(503,
                  "too many concurrent scrapes (--web.max-requests=" +
                      std::to_string(options.max_requests) + ")\n",
                  {{"Retry-After", "1"}});
    return false;
  }
  return true;
}

void HttpServer::Impl::SendExposition(
    mg_connection* conn, Response& response, const Exposition& exposition,
    const std::function<void(size_t)>& built) {
  // Concurrent answers share the pieces of the parts they share: however
  // many clients scrape at once, the output is held about once.
  const char* accept = mg_get_header(conn, "Accept-Encoding");
  if (accept && AcceptsGzip(accept)) {
    const Body body = GzipBody(exposition);
    if (built) built(body.text_bytes);
    response.Send(200, kExpositionContentType, body,
                  {{"Content-Encoding", "gzip"}, {"Vary", "Accept-Encoding"}});
    return;
  }
  const Body body = SerializeBody(exposition);
  if (built) built(body.text_bytes);
  response.Send(200, kExpositionContentType, body);
}

int HttpServer::Impl::Serve(
    mg_connection* conn, Response& response, const char* what,
    const std::function<int(Clock::time_point)>& serve) {
  if (!Admit(response)) return 503;
  struct Releaser {
    Impl* impl;
    ~Releaser() { impl->Release(); }
  } releaser{this};
  const mg_request_info* info = mg_get_request_info(conn);
  if (std::strcmp(info->request_method, "HEAD") == 0) {
    response.Send(200, kExpositionContentType, "");
    return 200;
  }
  const char* timeout_header =
      mg_get_header(conn, "X-Prometheus-Scrape-Timeout-Seconds");
  const auto deadline = ScrapeDeadline(
      Clock::now(), timeout_header ? timeout_header : "", options);
  try {
    return serve(deadline);
  } catch (const std::exception& e) {
    Log(LogLevel::kError,
        std::string("serving ") + what + " failed: " + e.what());
    response.Text(500, std::string("error: ") + e.what() + "\n");
    return 500;
  }
}

int HttpServer::Impl::Metrics(mg_connection* conn, Response& response) {
  return Serve(conn, response, "metrics", [&](Clock::time_point deadline) {
    Exposition exposition;
    if (handlers.scrape) exposition = handlers.scrape(deadline);
    exposition.parts.push_back(std::make_shared<const Families>(OwnMetrics()));
    uint64_t series = 0;
    for (const auto& part : exposition.parts) {
      if (!part) continue;  // (a ?: with a temporary would copy the part)
      for (const auto& f : *part) series += f.metric.size();
    }
    SendExposition(conn, response, exposition, [&](size_t bytes) {
      counters.last_bytes = bytes;
      counters.last_series = series;
    });
    return 200;
  });
}

int HttpServer::Impl::Probe(mg_connection* conn, Response& response) {
  const mg_request_info* info = mg_get_request_info(conn);
  // Decoded query parameters; the request target is at most 4 KiB, so a
  // value fits (a longer one is absent, which is a 400).
  const std::string query = info->query_string ? info->query_string : "";
  auto param = [&query](const char* name) {
    std::string value(kMaxTargetBytes + 1, '\0');
    const int n = mg_get_var(query.data(), query.size(), name, value.data(),
                             value.size());
    value.resize(n > 0 ? n : 0);
    return value;
  };
  return Serve(conn, response, "a probe", [&](Clock::time_point deadline) {
    const ProbeAnswer answer =
        handlers.probe(param("target"), param("auth_module"), deadline);
    if (answer.status != 200) {
      response.Text(answer.status, answer.error + "\n");
      return answer.status;
    }
    SendExposition(conn, response, answer.exposition);
    return 200;
  });
}

int HttpServer::Impl::Handle(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  Response response(conn, access);
  const std::string method = info->request_method ? info->request_method : "";
  if (method != "GET" && method != "HEAD") {
    counters.method++;
    // A body may follow; do not read it, close instead.
    response.Close();
    response.Text(405, "405 method not allowed\n", {{"Allow", "GET, HEAD"}});
    return 405;
  }
  const size_t target_bytes =
      std::strlen(info->request_uri ? info->request_uri : "") +
      std::strlen(info->query_string ? info->query_string : "");
  if (target_bytes > kMaxTargetBytes) {
    counters.uri_too_long++;
    response.Close();
    response.Text(414, "414 request URI too long\n");
    return 414;
  }
  if (access) {
    const char* authorization = mg_get_header(conn, "Authorization");
    switch (access->Admit(authorization ? authorization : "")) {
      case WebAccess::Verdict::kAllow:
        break;
      case WebAccess::Verdict::kRateLimited:
        counters.rate_limited++;
        response.Text(429, "429 too many requests\n");
        return 429;
      case WebAccess::Verdict::kUnauthorized:
        counters.unauthorized++;
        response.Text(401, "401 unauthorized\n",
                      {{"WWW-Authenticate", "Basic"}});
        return 401;
    }
  }
  const std::string path = info->local_uri ? info->local_uri : "";
  if (path == options.telemetry_path) return Metrics(conn, response);
  if (path == "/probe" && handlers.probe) return Probe(conn, response);
  if (path == "/healthz") {
    response.Text(200, "ok\n");
    return 200;
  }
  if (path == "/") {
    std::optional<TargetStatus> status;
    if (handlers.status) status = handlers.status();
    response.Send(
        200, "text/html; charset=utf-8",
        LandingPage(status ? &*status : nullptr, options.telemetry_path,
                    static_cast<bool>(handlers.probe),
                    handlers.probe_targets ? handlers.probe_targets()
                                           : std::vector<ProbeTargetStatus>{}));
    return 200;
  }
  response.Text(404, "404 page not found\n");
  return 404;
}

std::vector<std::string> CivetListeningPorts(const std::string& address,
                                             bool tls) {
  const std::string suffix = tls ? "s" : "";
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    throw std::invalid_argument("listen address \"" + address +
                                "\" is not [host]:port");
  }
  const std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  char* end = nullptr;
  const long number = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || number < 0 || number > 65535) {
    throw std::invalid_argument("listen address \"" + address +
                                "\": bad port \"" + port + "\"");
  }
  if (host.find(':') != std::string::npos || host.find('[') == 0) {
    throw std::invalid_argument(
        "listen address \"" + address +
        "\": IPv6 is not available (Debian's CivetWeb 1.15 is built without "
        "it); listen on an IPv4 address, e.g. \":" +
        port + "\"");
  }
  if (host.empty() || host == "0.0.0.0") return {port + suffix};
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &result);
  if (rc != 0) {
    throw std::invalid_argument("listen address \"" + address +
                                "\": " + gai_strerror(rc));
  }
  std::vector<std::string> out;
  for (addrinfo* a = result; a; a = a->ai_next) {
    char text[INET_ADDRSTRLEN] = {0};
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr,
              text, sizeof(text));
    const std::string entry = std::string(text) + ":" + port + suffix;
    if (std::find(out.begin(), out.end(), entry) == out.end()) {
      out.push_back(entry);
    }
  }
  freeaddrinfo(result);
  return out;
}

Clock::time_point ScrapeDeadline(Clock::time_point now, std::string_view header,
                                 const HttpOptions& options) {
  auto budget =
      std::chrono::duration_cast<Clock::duration>(options.scrape_timeout);
  if (!header.empty()) {
    const std::string text(header);
    char* end = nullptr;
    const double seconds = std::strtod(text.c_str(), &end);
    // Beyond a day the header cannot shorten --scrape_timeout (at most an
    // hour); the bound also keeps the conversion below from overflowing.
    if (end != text.c_str() && std::isfinite(seconds) && seconds > 0 &&
        seconds < 86400) {
      const auto from_header = std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(seconds)) -
                               std::chrono::duration_cast<Clock::duration>(
                                   options.scrape_timeout_offset);
      budget = std::min(budget, from_header);
    }
  }
  budget = std::max<Clock::duration>(budget, std::chrono::milliseconds(100));
  return now + budget;
}

std::string LandingPage(const TargetStatus* s,
                        const std::string& telemetry_path, bool probe,
                        const std::vector<ProbeTargetStatus>& probe_targets) {
  std::string html =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>pgwarden"
      "</title></head><body>\n<h1>pgwarden " PGWARDEN_VERSION
      "</h1>\n"
      "<p>PostgreSQL exporter for Prometheus (revision " PGWARDEN_REVISION
      ").</p>\n<ul>\n<li><a href=\"" +
      HtmlEscape(telemetry_path) +
      "\">Metrics</a></li>\n"
      "<li><a href=\"/healthz\">Health</a></li>\n</ul>\n";
  if (s) {
    html +=
        "<h2>Target</h2>\n<p>" + HtmlEscape(s->target) + "</p>\n<p>Status: ";
    if (!s->ever_connected) {
      html += "not connected yet";
    } else {
      html += s->up ? "up" : "down";
      html += " &mdash; PostgreSQL " + HtmlEscape(s->server_version);
    }
    html += "</p>\n";
    if (!s->last_error.empty()) {
      html +=
          "<p>Last error: <code>" + HtmlEscape(s->last_error) + "</code></p>\n";
    }
    html += "<h2>Collectors</h2>\n<ul>\n";
    for (const auto& c : s->collectors) {
      html += "<li>" + HtmlEscape(c) + "</li>\n";
    }
    html += "</ul>\n";
    if (!s->notices.empty()) {
      html += "<h2>Notices</h2>\n<ul>\n";
      for (const auto& [collector, notice] : s->notices) {
        html += "<li><b>" + HtmlEscape(collector) +
                "</b>: " + HtmlEscape(notice) + "</li>\n";
      }
      html += "</ul>\n";
    }
  } else {
    html += "<p>No target of its own: " + HtmlEscape(telemetry_path) +
            " serves pgwarden's own metrics; targets are probed at "
            "<code>/probe?target=...</code>.</p>\n";
  }
  if (probe) {
    html += "<h2>Probe targets</h2>\n";
    if (probe_targets.empty()) {
      html += "<p>None held.</p>\n";
    } else {
      html +=
          "<table>\n<tr><th>Target</th><th>auth_module</th><th>Status</th>"
          "<th>Connections</th><th>Probes</th><th>Last probe</th>"
          "<th>Last error</th></tr>\n";
      for (const auto& p : probe_targets) {
        const TargetStatus& t = p.status;
        char idle[32];
        std::snprintf(idle, sizeof(idle), "%.0f s ago", p.idle_seconds);
        html += "<tr><td>" + HtmlEscape(t.target) + "</td><td>" +
                HtmlEscape(p.auth_module) + "</td><td>" +
                (!t.ever_connected
                     ? std::string("not connected yet")
                     : std::string(t.up ? "up" : "down") + " &mdash; " +
                           HtmlEscape(t.server_version)) +
                "</td><td>" + std::to_string(t.open_connections) + "</td><td>" +
                std::to_string(p.probes) + "</td><td>" + idle +
                "</td><td><code>" + HtmlEscape(t.last_error) +
                "</code></td></tr>\n";
      }
      html += "</table>\n";
    }
  }
  html += "</body></html>\n";
  return html;
}

HttpServer::HttpServer(HttpOptions options, HttpHandlers handlers,
                       WebAccess* access)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->handlers = std::move(handlers);
  impl_->access = access;
  const bool tls = access && access->tls();
  std::string ports;
  for (const auto& address : impl_->options.listen_addresses) {
    std::vector<std::string> entries;
    try {
      entries = CivetListeningPorts(address, tls);
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(e.what());
    }
    for (const auto& e : entries) ports += (ports.empty() ? "" : ",") + e;
  }
  const int threads = std::max(2, impl_->options.max_connections);
  const std::string threads_text = std::to_string(threads);
  const std::string request_timeout =
      std::to_string(impl_->options.request_timeout_ms);
  const std::string keep_alive_timeout =
      std::to_string(impl_->options.keep_alive_timeout_ms);
  const char* civet_options[] = {
      "listening_ports",
      ports.c_str(),
      "num_threads",
      threads_text.c_str(),
      // Accepted connections waiting for a thread; beyond, the kernel's
      // listen backlog holds them.
      "connection_queue",
      "64",
      "listen_backlog",
      "1024",
      "request_timeout_ms",
      request_timeout.c_str(),
      "enable_keep_alive",
      "yes",
      "keep_alive_timeout_ms",
      keep_alive_timeout.c_str(),
      // Request line plus headers; larger requests get 400.
      "max_request_size",
      "8192",
      // A close waits (at most the request timeout) for the client to
      // take what the kernel has not sent yet. 0 made it abortive: a
      // client that asked to close lost the tail of a large answer.
      "linger_timeout_ms",
      request_timeout.c_str(),
      nullptr,
  };
  mg_callbacks callbacks{};
  callbacks.begin_request = [](mg_connection* conn) {
    auto* impl = static_cast<Impl*>(mg_get_user_data(mg_get_context(conn)));
    return impl->Handle(conn);
  };
  callbacks.log_message = [](const mg_connection*, const char* message) {
    Log(LogLevel::kDebug, std::string("http: ") + message);
    return 1;
  };
  if (tls) {
    callbacks.external_ssl_ctx = [](void** ssl_ctx, void* user_data) {
      *ssl_ctx = static_cast<Impl*>(user_data)->access->tls()->ssl_ctx();
      return 1;
    };
  }
  mg_init_library(tls ? MG_FEATURES_TLS : 0);
  mg_init_data init{&callbacks, impl_.get(), civet_options};
  char error_text[256] = {0};
  unsigned error_code = 0;
  mg_error_data error{&error_code, error_text, sizeof(error_text)};
  impl_->ctx = mg_start2(&init, &error);
  if (!impl_->ctx) {
    std::string all;
    for (const auto& a : impl_->options.listen_addresses) {
      all += (all.empty() ? "" : ", ") + a;
    }
    throw std::runtime_error(
        "cannot listen on \"" + all + "\"" +
        (error_text[0] ? std::string(": ") + error_text : std::string()));
  }
  impl_->listeners = ListeningSockets(Ports());
  // Debian's CivetWeb never sets TCP_NODELAY, so the tail of a response (the
  // last TLS record, the end of a body) waits for the client's delayed ACK,
  // 40 ms. On Linux an accepted socket inherits it from its listener.
  for (int fd : impl_->listeners) {
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
}

HttpServer::~HttpServer() {
  if (!impl_->ctx) return;
  // CivetWeb's master thread polls its listeners 2 s at a time and sees
  // mg_stop's flag only when a poll returns, so every stop (SIGTERM, each
  // test's server) took 2 s. Shut down, a listener wakes that poll at once
  // and refuses new connections; it stays open until mg_stop closes it, so
  // the descriptor cannot be another socket's yet.
  for (int fd : impl_->listeners) shutdown(fd, SHUT_RDWR);
  mg_stop(impl_->ctx);
}

std::vector<int> HttpServer::Ports() const {
  mg_server_port ports[32];
  const int n = mg_get_server_ports(impl_->ctx, 32, ports);
  std::vector<int> out;
  for (int i = 0; i < n; ++i) out.push_back(ports[i].port);
  return out;
}

}  // namespace pgwarden

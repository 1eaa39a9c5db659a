#include "exporter/http_server.h"

#include <CivetServer.h>

#include <cmath>
#include <stdexcept>

#include "exporter/log.h"
#include "exporter/text.h"

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

void Send(mg_connection* conn, int status, const char* status_text,
          const std::string& content_type, const std::string& body,
          const char* extra_headers = "") {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n",
            status, status_text, content_type.c_str(), body.size(),
            extra_headers);
  mg_write(conn, body.data(), body.size());
}

void NotFound(mg_connection* conn) {
  Send(conn, 404, "Not Found", "text/plain; charset=utf-8",
       "404 page not found\n");
}

std::string Path(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  return info && info->local_uri ? info->local_uri : "";
}

class MetricsHandler : public CivetHandler {
 public:
  MetricsHandler(const HttpOptions& options, const HttpHandlers& handlers)
      : options_(options), handlers_(handlers) {}

  bool handleGet(CivetServer*, mg_connection* conn) override {
    if (Path(conn) != options_.telemetry_path) {
      NotFound(conn);
      return true;
    }
    const char* timeout_header =
        CivetServer::getHeader(conn, "X-Prometheus-Scrape-Timeout-Seconds");
    const auto deadline = ScrapeDeadline(
        Clock::now(), timeout_header ? timeout_header : "", options_);
    try {
      std::string body = Serialize(handlers_.scrape(deadline));
      const char* accept = CivetServer::getHeader(conn, "Accept-Encoding");
      if (accept && AcceptsGzip(accept)) {
        Send(conn, 200, "OK", kExpositionContentType, Gzip(body),
             "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n");
      } else {
        Send(conn, 200, "OK", kExpositionContentType, body);
      }
    } catch (const std::exception& e) {
      Log(LogLevel::kError, std::string("serving metrics failed: ") + e.what());
      Send(conn, 500, "Internal Server Error", "text/plain; charset=utf-8",
           std::string("error: ") + e.what() + "\n");
    }
    return true;
  }

 private:
  const HttpOptions& options_;
  const HttpHandlers& handlers_;
};

class RootHandler : public CivetHandler {
 public:
  RootHandler(const HttpOptions& options, const HttpHandlers& handlers)
      : options_(options), handlers_(handlers) {}

  bool handleGet(CivetServer*, mg_connection* conn) override {
    const std::string path = Path(conn);
    if (path == "/healthz") {
      Send(conn, 200, "OK", "text/plain; charset=utf-8", "ok\n");
    } else if (path == "/") {
      Send(conn, 200, "OK", "text/html; charset=utf-8",
           LandingPage(handlers_.status(), options_.telemetry_path));
    } else {
      NotFound(conn);
    }
    return true;
  }

 private:
  const HttpOptions& options_;
  const HttpHandlers& handlers_;
};

// ":9187" -> "9187" (all interfaces), as civetweb spells it.
std::string CivetPorts(const std::string& address) {
  if (!address.empty() && address[0] == ':') return address.substr(1);
  return address;
}

}  // namespace

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

std::string LandingPage(const TargetStatus& s,
                        const std::string& telemetry_path) {
  std::string html =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>pgwarden"
      "</title></head><body>\n<h1>pgwarden " PGWARDEN_VERSION
      "</h1>\n"
      "<p>PostgreSQL exporter for Prometheus (revision " PGWARDEN_REVISION
      ").</p>\n<ul>\n<li><a href=\"" +
      HtmlEscape(telemetry_path) +
      "\">Metrics</a></li>\n"
      "<li><a href=\"/healthz\">Health</a></li>\n</ul>\n<h2>Target</h2>\n<p>" +
      HtmlEscape(s.target) + "</p>\n<p>Status: ";
  if (!s.ever_connected) {
    html += "not connected yet";
  } else {
    html += s.up ? "up" : "down";
    html += " &mdash; PostgreSQL " + HtmlEscape(s.server_version);
  }
  html += "</p>\n";
  if (!s.last_error.empty()) {
    html +=
        "<p>Last error: <code>" + HtmlEscape(s.last_error) + "</code></p>\n";
  }
  html += "<h2>Collectors</h2>\n<ul>\n";
  for (const auto& c : s.collectors) html += "<li>" + HtmlEscape(c) + "</li>\n";
  html += "</ul>\n";
  if (!s.notices.empty()) {
    html += "<h2>Notices</h2>\n<ul>\n";
    for (const auto& [collector, notice] : s.notices) {
      html += "<li><b>" + HtmlEscape(collector) +
              "</b>: " + HtmlEscape(notice) + "</li>\n";
    }
    html += "</ul>\n";
  }
  html += "</body></html>\n";
  return html;
}

struct HttpServer::Impl {
  HttpOptions options;
  HttpHandlers handlers;
  std::unique_ptr<CivetServer> server;
  std::unique_ptr<MetricsHandler> metrics;
  std::unique_ptr<RootHandler> root;
};

HttpServer::HttpServer(HttpOptions options, HttpHandlers handlers)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->handlers = std::move(handlers);
  const std::vector<std::string> civet_options = {
      "listening_ports",
      CivetPorts(impl_->options.listen_address),
      "num_threads",
      std::to_string(impl_->options.threads),
      "request_timeout_ms",
      "60000",
      // Every response says "Connection: close" (see Send).
      "enable_keep_alive",
      "no",
  };
  try {
    impl_->server = std::make_unique<CivetServer>(civet_options);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot listen on \"" +
                             impl_->options.listen_address + "\": " + e.what());
  }
  if (!impl_->server->getContext()) {
    throw std::runtime_error("cannot listen on \"" +
                             impl_->options.listen_address + "\"");
  }
  impl_->metrics =
      std::make_unique<MetricsHandler>(impl_->options, impl_->handlers);
  impl_->root = std::make_unique<RootHandler>(impl_->options, impl_->handlers);
  impl_->server->addHandler(impl_->options.telemetry_path,
                            impl_->metrics.get());
  impl_->server->addHandler("/", impl_->root.get());
}

HttpServer::~HttpServer() {
  if (impl_->server) impl_->server->close();
}

std::vector<int> HttpServer::Ports() const {
  return impl_->server->getListeningPorts();
}

}  // namespace pgwarden

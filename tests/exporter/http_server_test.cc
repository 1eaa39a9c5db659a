#include "exporter/http_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "tests/test_util.h"

namespace pgwarden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Response {
  int status = 0;
  std::string headers;
  std::string body;
};

// A socket connected to 127.0.0.1:port, or -1 with errno saying why not.
int ConnectLoopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    return fd;
  }
  const int error = errno;
  close(fd);
  errno = error;
  return -1;
}

// A plain-socket HTTP/1.1 client, so the test needs no curl.
Response Get(int port, const std::string& path, const std::string& extra = "",
             const std::string& method = "GET") {
  const int fd = ConnectLoopback(port);
  EXPECT_GE(fd, 0);
  const std::string request = method + " " + path +
                              " HTTP/1.1\r\nHost: localhost\r\n" + extra +
                              "Connection: close\r\n\r\n";
  EXPECT_EQ(send(fd, request.data(), request.size(), 0),
            static_cast<ssize_t>(request.size()));
  std::string raw;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
    raw.append(buf, static_cast<size_t>(n));
  close(fd);
  Response r;
  const size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos) return r;
  r.headers = raw.substr(0, end);
  r.body = raw.substr(end + 4);
  std::sscanf(raw.c_str(), "HTTP/1.1 %d", &r.status);
  return r;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpOptions options;
    options.listen_addresses = {"127.0.0.1:0"};
    options.max_connections = 16;  // stopping joins every thread
    options.scrape_timeout = std::chrono::milliseconds(7000);
    HttpHandlers handlers;
    handlers.scrape = [this](Clock::time_point deadline) {
      last_budget_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - Clock::now())
                            .count();
      auto out = std::make_shared<Families>();
      FamilyBuilder("pg_up", "up", prometheus::MetricType::Gauge)
          .Add(1)
          .MoveTo(*out);
      FamilyBuilder("x", "x", prometheus::MetricType::Gauge)
          .Add({{"app", "<script>\"} 1\nfake_metric 1"}}, 2)
          .MoveTo(*out);
      return Exposition{{out}};
    };
    handlers.status = [] {
      TargetStatus s;
      s.target = "host=db <b>";
      s.collectors = {"locks"};
      s.ever_connected = true;
      s.notices = {
          {"stat_statements", "CREATE EXTENSION pg_stat_statements <now>"}};
      s.last_error = "boom <i>";
      return s;
    };
    server_ = std::make_unique<HttpServer>(options, handlers);
    port_ = server_->Ports().at(0);
  }

  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
  long last_budget_ms_ = 0;
};

TEST_F(HttpServerTest, ServesMetrics) {
  const Response r = Get(port_, "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(
      r.headers,
      HasSubstr("Content-Type: text/plain; version=0.0.4; charset=utf-8"));
  EXPECT_THAT(r.headers, Not(HasSubstr("Content-Encoding")));
  EXPECT_THAT(r.body, HasSubstr("pg_up 1\n"));
  EXPECT_THAT(r.body, Not(HasSubstr("\nfake_metric")));
  EXPECT_GT(last_budget_ms_, 6000);  // --scrape_timeout without the header
}

TEST_F(HttpServerTest, ReportsThePreviousAnswersSizeAndSeries) {
  const Response first = Get(port_, "/metrics");
  const Response second = Get(port_, "/metrics");
  EXPECT_THAT(second.body, HasSubstr("pgwarden_scrape_response_bytes " +
                                     std::to_string(first.body.size()) + "\n"));
  size_t series = 0;
  for (size_t p = 0; (p = first.body.find('\n', p)) != std::string::npos; ++p) {
    if (p + 1 < first.body.size() && first.body[p + 1] != '#') ++series;
  }
  EXPECT_THAT(second.body, HasSubstr("pgwarden_scrape_series " +
                                     std::to_string(series) + "\n"));
}

TEST_F(HttpServerTest, GzipWhenAccepted) {
  const Response plain = Get(port_, "/metrics");
  const Response r = Get(port_, "/metrics", "Accept-Encoding: gzip\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.headers, HasSubstr("Content-Encoding: gzip"));
  // The same answer but for the size of the previous one.
  auto without_size = [](std::string text) {
    for (const char* name :
         {"\npgwarden_scrape_response_bytes ", "\npgwarden_scrape_series "}) {
      const size_t at = text.find(name);
      if (at != std::string::npos) {
        text.erase(at + 1, text.find('\n', at + 1) - at);
      }
    }
    return text;
  };
  EXPECT_EQ(without_size(testing::Gunzip(r.body)), without_size(plain.body));
}

TEST_F(HttpServerTest, PrometheusTimeoutHeaderShortensTheDeadline) {
  Get(port_, "/metrics", "X-Prometheus-Scrape-Timeout-Seconds: 2\r\n");
  EXPECT_LE(last_budget_ms_, 1500);  // 2 s minus the 0.5 s offset
  EXPECT_GT(last_budget_ms_, 1000);
}

TEST_F(HttpServerTest, UnknownPathsAre404) {
  for (const char* path :
       {"/nope", "/metrics/extra", "/metricsx", "/healthz/x", "/probe"}) {
    EXPECT_EQ(Get(port_, path).status, 404) << path;
  }
}

TEST_F(HttpServerTest, LandingPageAndHealth) {
  const Response health = Get(port_, "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");
  const Response landing = Get(port_, "/");
  EXPECT_EQ(landing.status, 200);
  EXPECT_THAT(landing.headers, HasSubstr("text/html"));
  EXPECT_THAT(landing.body, HasSubstr("href=\"/metrics\""));
  EXPECT_THAT(landing.body, HasSubstr("host=db &lt;b&gt;"));
  EXPECT_THAT(landing.body, HasSubstr("boom &lt;i&gt;"));
  EXPECT_THAT(landing.body,
              HasSubstr("<b>stat_statements</b>: CREATE EXTENSION "
                        "pg_stat_statements &lt;now&gt;"));
}

TEST_F(HttpServerTest, OnlyGetAndHead) {
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "PATCH"}) {
    const Response r = Get(port_, "/metrics", "", method);
    EXPECT_EQ(r.status, 405) << method;
    EXPECT_THAT(r.headers, HasSubstr("Allow: GET, HEAD")) << method;
  }
  const Response head = Get(port_, "/healthz", "", "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
  const Response metrics = Get(port_, "/metrics");
  EXPECT_THAT(
      metrics.body,
      HasSubstr("pgwarden_http_requests_rejected_total{reason=\"method\"}"
                " 5"));
}

// Accepted connections inherit TCP_NODELAY from the listening socket, so
// the tail of a response does not wait for the client's delayed ACK.
TEST_F(HttpServerTest, ListeningSocketHasNoDelay) {
  int found = 0;
  for (int fd = 3; fd < 1024; ++fd) {
    int listening = 0;
    socklen_t size = sizeof(listening);
    sockaddr_in addr{};
    socklen_t addr_size = sizeof(addr);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) != 0 ||
        !listening ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &addr_size) != 0 ||
        ntohs(addr.sin_port) != port_) {
      continue;
    }
    int nodelay = 0;
    size = sizeof(nodelay);
    ASSERT_EQ(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &size), 0);
    EXPECT_EQ(nodelay, 1);
    ++found;
  }
  EXPECT_EQ(found, 1);
}

// CivetWeb's master thread polls its listeners 2 s at a time: a stop that
// waited for that poll took up to 2 s (every SIGTERM, every server here).
// The bound is half of that, far from a stop's real cost (milliseconds).
TEST_F(HttpServerTest, StopsAtOnceAndRefusesNewConnections) {
  ASSERT_EQ(Get(port_, "/metrics").status, 200);
  const auto start = std::chrono::steady_clock::now();
  server_.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_EQ(ConnectLoopback(port_), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
}

TEST_F(HttpServerTest, LongUriIs414AndTraversalIs404) {
  EXPECT_EQ(Get(port_, "/" + std::string(5000, 'a')).status, 414);
  EXPECT_EQ(Get(port_, "/../../etc/passwd").status, 404);
  EXPECT_EQ(Get(port_, "/metrics/../../etc/passwd").status, 404);
}

TEST(HttpServerLimitTest, ScrapesBeyondMaxRequestsAre503) {
  HttpOptions options;
  options.listen_addresses = {"127.0.0.1:0"};
  options.max_connections = 16;
  options.max_requests = 1;
  std::mutex mu;
  std::condition_variable cv;
  bool release = false, entered = false;
  HttpHandlers handlers;
  handlers.scrape = [&](Clock::time_point) {
    std::unique_lock<std::mutex> lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return release; });
    return Exposition{};
  };
  handlers.status = [] { return TargetStatus{}; };
  HttpServer server(options, handlers);
  const int port = server.Ports().at(0);
  std::thread first([&] { EXPECT_EQ(Get(port, "/metrics").status, 200); });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return entered; });
  }
  const Response second = Get(port, "/metrics");
  EXPECT_EQ(second.status, 503);
  EXPECT_EQ(Get(port, "/healthz").status, 200);  // not a scrape
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  first.join();
  EXPECT_EQ(Get(port, "/metrics").status, 200);
}

// GET `path` and digest the body as it arrives (FNV-1a and size), keeping
// none of it: a test that measures the server's memory must not hold 16
// answers itself.
struct Digest {
  int status = 0;
  uint64_t hash = 1469598103934665603ull;
  size_t size = 0;
};
Digest GetDigest(int port, const std::string& path, const std::string& extra,
                 bool keep_alive = true) {
  Digest d;
  const int fd = ConnectLoopback(port);
  if (fd < 0) return d;
  // Kept alive, as Prometheus does, the body ends at its Content-Length;
  // otherwise where the server closes, which must be no sooner.
  const std::string request = "GET " + path +
                              " HTTP/1.1\r\nHost: localhost\r\n" + extra +
                              (keep_alive ? "Connection: keep-alive\r\n\r\n"
                                          : "Connection: close\r\n\r\n");
  EXPECT_EQ(send(fd, request.data(), request.size(), 0),
            static_cast<ssize_t>(request.size()));
  std::string head;
  bool in_body = false;
  size_t length = 0;
  char buf[65536];
  ssize_t n;
  while ((!in_body || !keep_alive || d.size < length) &&
         (n = recv(fd, buf, sizeof(buf), 0)) > 0) {
    size_t from = 0;
    if (!in_body) {
      head.append(buf, static_cast<size_t>(n));
      const size_t end = head.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      std::sscanf(head.c_str(), "HTTP/1.1 %d", &d.status);
      const size_t at = head.find("Content-Length: ");
      if (at == std::string::npos || at > end) break;
      length = std::strtoul(head.c_str() + at + 16, nullptr, 10);
      in_body = true;
      const size_t body_in_head = head.size() - end - 4;
      from = static_cast<size_t>(n) - body_in_head;
    }
    for (size_t i = from; i < static_cast<size_t>(n); ++i) {
      d.hash = (d.hash ^ static_cast<unsigned char>(buf[i])) * 1099511628211ull;
    }
    d.size += static_cast<size_t>(n) - from;
  }
  close(fd);
  return d;
}

// The process' peak resident memory (VmHWM), in bytes.
size_t PeakResidentBytes() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  size_t kib = 0;
  while (std::fgets(line, sizeof(line), f)) {
    if (std::sscanf(line, "VmHWM: %zu kB", &kib) == 1) break;
  }
  std::fclose(f);
  return kib * 1024;
}

// 16 clients scraping one collection at once (the handler holds them until
// all have arrived) share its parts: every answer is byte-identical, and
// the peak memory grows by much less than one answer per extra client. The
// answer is ~6.5 MB of text: one shared part, and self-metrics made anew
// for each answer, as a target's are.
TEST(HttpServerSharedBodyTest, ConcurrentScrapesShareOneBody) {
  constexpr int kClients = 16;
  auto shared = std::make_shared<Families>();
  FamilyBuilder f("pg_stat_user_tables_n_live_tup", "Live rows.",
                  prometheus::MetricType::Gauge);
  for (int i = 0; i < 140000; ++i) {
    f.Add({{"datname", "shop"},
           {"schemaname", "public"},
           {"relname", "orders_" + std::to_string(i)}},
          i);
  }
  f.MoveTo(*shared);
  std::shared_ptr<const Families> part = shared;
  std::mutex mu;
  std::condition_variable cv;
  int waiting = 0;
  bool gate = false;
  HttpOptions options;
  options.listen_addresses = {"127.0.0.1:0"};
  options.max_connections = 64;
  options.max_requests = 64;
  HttpHandlers handlers;
  handlers.scrape = [&](Clock::time_point) {
    {
      std::unique_lock<std::mutex> lock(mu);
      ++waiting;
      cv.notify_all();
      cv.wait_for(lock, std::chrono::seconds(20),
                  [&] { return !gate || waiting >= kClients; });
    }
    Exposition e;
    e.parts.push_back(part);
    auto self = std::make_shared<Families>();
    FamilyBuilder("pg_up", "up", prometheus::MetricType::Gauge)
        .Add(1)
        .MoveTo(*self);
    e.parts.push_back(self);
    return e;
  };
  handlers.status = [] { return TargetStatus{}; };
  HttpServer server(options, handlers);
  const int port = server.Ports().at(0);
  // Sequential answers first (the second sees the part as shared).
  std::vector<Digest> sequential;
  for (int i = 0; i < 2; ++i) {
    sequential.push_back(GetDigest(port, "/metrics", ""));
    sequential.push_back(
        GetDigest(port, "/metrics", "Accept-Encoding: gzip\r\n"));
  }
  ASSERT_EQ(sequential[0].status, 200);
  const size_t body = sequential[0].size;
  ASSERT_GT(body, 5u << 20);
  // A client that asks the server to close gets all of it before the close
  // (an abortive close would drop what the kernel had not sent yet).
  for (const char* encoding : {"", "Accept-Encoding: gzip\r\n"}) {
    const Digest closed = GetDigest(port, "/metrics", encoding, false);
    EXPECT_EQ(closed.size, sequential[*encoding ? 3 : 2].size) << encoding;
    EXPECT_EQ(closed.hash, sequential[*encoding ? 3 : 2].hash) << encoding;
  }
  const size_t peak_before = PeakResidentBytes();
  {
    std::lock_guard<std::mutex> lock(mu);
    gate = true;
    waiting = 0;
  }
  std::vector<Digest> answers(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      answers[i] =
          GetDigest(port, "/metrics", i % 2 ? "Accept-Encoding: gzip\r\n" : "");
    });
  }
  for (auto& c : clients) c.join();
  const size_t growth = PeakResidentBytes() - peak_before;
  for (int i = 0; i < kClients; ++i) {
    const Digest& want = sequential[2 + i % 2];
    EXPECT_EQ(answers[i].status, 200) << i;
    EXPECT_EQ(answers[i].size, want.size) << i;
    EXPECT_EQ(answers[i].hash, want.hash) << i;  // byte-identical
  }
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  // Sanitizers keep freed memory on purpose; the bound is for real builds.
  EXPECT_LT(growth, (kClients - 1) * body / 2)
      << "peak grew by " << (growth >> 20) << " MiB for " << kClients
      << " clients of a " << (body >> 20) << " MiB answer";
#endif
  std::printf(
      "16 concurrent scrapes of a %zu MiB answer: peak memory +%zu MiB\n",
      body >> 20, growth >> 20);
}

TEST(CivetListeningPortsTest, Spellings) {
  EXPECT_EQ(CivetListeningPorts(":9187", false),
            std::vector<std::string>{"9187"});
  EXPECT_EQ(CivetListeningPorts("0.0.0.0:9187", true),
            std::vector<std::string>{"9187s"});
  EXPECT_EQ(CivetListeningPorts("127.0.0.1:0", false),
            std::vector<std::string>{"127.0.0.1:0"});
  EXPECT_EQ(CivetListeningPorts("localhost:9", false),
            std::vector<std::string>{"127.0.0.1:9"});
  for (const char* bad : {"9187", ":99999", ":x", "[::1]:9187", "[::]:9187"}) {
    EXPECT_THROW(CivetListeningPorts(bad, false), std::invalid_argument) << bad;
  }
  try {
    CivetListeningPorts("[::]:9187", false);
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("IPv6 is not available"));
  }
}

TEST(HttpServerStartTest, PortInUseIsAClearError) {
  HttpOptions options;
  options.listen_addresses = {"127.0.0.1:0"};
  options.max_connections = 16;
  HttpHandlers handlers;
  handlers.scrape = [](Clock::time_point) { return Exposition{}; };
  handlers.status = [] { return TargetStatus{}; };
  HttpServer first(options, handlers);
  options.listen_addresses = {"127.0.0.1:" +
                              std::to_string(first.Ports().at(0))};
  try {
    HttpServer second(options, handlers);
    FAIL() << "second server on the same port started";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot listen on \"127.0.0.1:"));
  }
}

TEST(ScrapeDeadlineTest, HeaderMinusOffsetCappedByFlag) {
  HttpOptions o;
  o.scrape_timeout = std::chrono::milliseconds(10000);
  o.scrape_timeout_offset = std::chrono::milliseconds(500);
  const auto now = Clock::now();
  auto ms = [&](Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t - now)
        .count();
  };
  EXPECT_EQ(ms(ScrapeDeadline(now, "", o)), 10000);
  EXPECT_EQ(ms(ScrapeDeadline(now, "4", o)), 3500);
  EXPECT_EQ(ms(ScrapeDeadline(now, "2.25", o)), 1750);
  EXPECT_EQ(ms(ScrapeDeadline(now, "60", o)), 10000);
  EXPECT_EQ(ms(ScrapeDeadline(now, "0.3", o)), 100);  // floor
  EXPECT_EQ(ms(ScrapeDeadline(now, "junk", o)), 10000);
  EXPECT_EQ(ms(ScrapeDeadline(now, "-5", o)), 10000);
  // Found by the flags fuzzer: a huge value overflowed the conversion.
  EXPECT_EQ(ms(ScrapeDeadline(now, "1e300", o)), 10000);
  EXPECT_EQ(ms(ScrapeDeadline(now, "nan", o)), 10000);
}

// /probe passes the decoded target and auth_module and the deadline to its
// handler and answers with its status; with no target of its own,
// /metrics serves only pgwarden's families and the landing page lists the
// probe targets, escaped.
TEST(HttpServerProbeTest, ProbeAndPureProbeExporter) {
  HttpOptions options;
  options.listen_addresses = {"127.0.0.1:0"};
  options.max_connections = 8;
  std::mutex mu;
  std::string seen_target, seen_module;
  long budget_ms = 0;
  HttpHandlers handlers;
  handlers.probe = [&](const std::string& target, const std::string& module,
                       Clock::time_point deadline) {
    std::lock_guard<std::mutex> lock(mu);
    seen_target = target;
    seen_module = module;
    budget_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - Clock::now())
                    .count();
    ProbeAnswer a;
    if (target == "forbidden") {
      a.status = 403;
      a.error = "target forbidden:5432 is not allowed";
      return a;
    }
    auto out = std::make_shared<Families>();
    FamilyBuilder("pg_up", "up", prometheus::MetricType::Gauge)
        .Add(1)
        .MoveTo(*out);
    a.exposition.parts.push_back(out);
    return a;
  };
  handlers.probe_targets = [] {
    ProbeTargetStatus p;
    p.status.target = "host=<evil> port=5432";
    p.status.ever_connected = true;
    p.status.up = true;
    p.status.server_version = "15.4";
    p.status.open_connections = 1;
    p.auth_module = "m<1>";
    p.probes = 7;
    return std::vector<ProbeTargetStatus>{p};
  };
  handlers.extra_metrics = [] {
    Families out;
    FamilyBuilder("pgwarden_probes_total", "p", prometheus::MetricType::Counter)
        .Add(3)
        .MoveTo(out);
    return out;
  };
  HttpServer server(options, handlers);
  const int port = server.Ports().at(0);

  Response r = Get(port,
                   "/probe?target=postgresql%3A%2F%2Fdb%3A5432%2Fshop%3F"
                   "sslmode%3Drequire&auth_module=m+1",
                   "X-Prometheus-Scrape-Timeout-Seconds: 3\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("pg_up 1\n"));
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(seen_target, "postgresql://db:5432/shop?sslmode=require");
    EXPECT_EQ(seen_module, "m 1");
    EXPECT_LE(budget_ms, 2500);
    EXPECT_GT(budget_ms, 2000);
  }
  r = Get(port, "/probe?target=forbidden");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body, "target forbidden:5432 is not allowed\n");
  r = Get(port, "/probe");
  EXPECT_EQ(r.status, 200);  // the handler decides; it saw no target
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(seen_target, "");
  }

  r = Get(port, "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("pgwarden_probes_total 3"));
  EXPECT_THAT(r.body, Not(HasSubstr("pg_up")));

  r = Get(port, "/");
  EXPECT_THAT(r.body, HasSubstr("No target of its own"));
  EXPECT_THAT(r.body, HasSubstr("host=&lt;evil&gt; port=5432"));
  EXPECT_THAT(r.body, HasSubstr("m&lt;1&gt;"));
  EXPECT_THAT(r.body, HasSubstr("up &mdash; 15.4"));
  EXPECT_THAT(r.body, Not(HasSubstr("<evil>")));
}

}  // namespace
}  // namespace pgwarden::testing

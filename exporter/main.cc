// pgwarden: PostgreSQL exporter for Prometheus.

#include <malloc.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "exporter/engine.h"
#include "exporter/flags.h"
#include "exporter/http_server.h"
#include "exporter/log.h"
#include "exporter/session.h"

namespace {

constexpr int kUsageError = 2;

int Fail(const std::string& reason) {
  std::fprintf(stderr, "pgwarden: %s\n", reason.c_str());
  return kUsageError;
}

// The built-in collectors the flags enable, then the custom queries.
std::vector<std::unique_ptr<pgwarden::Collector>> AllCollectors(
    const pgwarden::Config& config) {
  auto collectors =
      pgwarden::CreateCollectors(config.collectors, config.collector_options);
  for (const auto& q : config.custom_queries) {
    collectors.push_back(
        pgwarden::NewCustomCollector(q, config.collector_options.legacy_names));
  }
  return collectors;
}

int PrintQueries(const pgwarden::Config& config) {
  using namespace pgwarden;
  auto database = NewPostgresDatabase(config.dsn);
  ServerInfo server;
  try {
    server = database->Prepare(Clock::now() + std::chrono::seconds(30));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pgwarden: %s\n", e.what());
    return 1;
  }
  for (const auto& c : AllCollectors(config)) {
    const std::string sql = c->Query(server);
    std::cout << "-- " << c->Name() << "\n" << (sql.empty() ? "-- (nothing to ask)" : sql)
              << (sql.empty() ? "\n" : ";\n");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace pgwarden;
  // glibc gives each thread that allocates its own arena (up to 8 per core),
  // which would make a small exporter's resident memory grow with every
  // HTTP and collection thread. Two arenas are plenty here.
  mallopt(M_ARENA_MAX, 2);
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-help" || arg == "-h" || arg == "--helpfull") {
      std::cout << HelpText();
      return 0;
    }
    if (arg == "--version" || arg == "-version") {
      std::cout << "pgwarden " PGWARDEN_VERSION " (revision " PGWARDEN_REVISION ")\n";
      return 0;
    }
  }
  if (std::string reason = CheckArgs(argc, argv); !reason.empty()) {
    return Fail(reason);
  }
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (argc > 1) return Fail(std::string("unexpected argument \"") + argv[1] + "\"");
  if (!SetLogLevel(FLAGS_log_level)) {
    return Fail("invalid --log_level \"" + FLAGS_log_level + "\"");
  }

  Config config;
  try {
    config = LoadConfig();
  } catch (const std::exception& e) {
    return Fail(e.what());
  }

  if (FLAGS_print_queries) return PrintQueries(config);

  // Signals are taken by sigwait below; block them before any thread starts
  // so that every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A client that goes away mid-response must not kill the process.
  std::signal(SIGPIPE, SIG_IGN);

  const std::string target = config.dsn.Redacted();
  EngineOptions engine_options = config.engine;
  engine_options.open_database = [dsn = config.dsn](const std::string& dbname) {
    Dsn other = dsn;
    other.Set("dbname", dbname);
    return NewPostgresDatabase(other);
  };
  Engine engine(target, NewPostgresDatabase(config.dsn), AllCollectors(config),
                engine_options);
  HttpHandlers handlers;
  handlers.scrape = [&engine](Clock::time_point deadline) {
    return engine.Collect(deadline);
  };
  handlers.status = [&engine] { return engine.Status(); };

  std::unique_ptr<HttpServer> server;
  try {
    server = std::make_unique<HttpServer>(config.http, handlers);
  } catch (const std::exception& e) {
    return Fail(e.what());
  }
  std::string collectors;
  for (const auto& c : config.collectors) collectors += (collectors.empty() ? "" : ",") + c;
  for (const auto& q : config.custom_queries) collectors += "," + q.name;
  std::string ports;
  for (int p : server->Ports()) ports += (ports.empty() ? "" : ",") + std::to_string(p);
  Log(LogLevel::kInfo, "pgwarden " PGWARDEN_VERSION " listening on port " + ports +
                           " path " + config.http.telemetry_path + "; target " +
                           target + "; collectors " + collectors);

  int sig = 0;
  sigwait(&signals, &sig);
  Log(LogLevel::kInfo, std::string("received ") + strsignal(sig) + ", shutting down");
  server.reset();
  return 0;
}

// pgwarden: PostgreSQL exporter for Prometheus.

#include <malloc.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <iostream>
#include <set>

#include "exporter/args.h"
#include "exporter/config.h"
#include "exporter/flags.h"
#include "exporter/http_server.h"
#include "exporter/log.h"
#include "exporter/probe.h"
#include "exporter/probe_config.h"
#include "exporter/remediation.h"
#include "exporter/samples.h"
#include "exporter/self_metrics.h"
#include "exporter/session.h"
#include "exporter/target.h"
#include "exporter/web_access.h"

namespace {

using namespace pgwarden;

constexpr int kUsageError = 2;

// Ends the process without running static or library destructors: detached
// threads (a collection on a frozen server, the sampler, the visitor, the
// remediator) may still be inside libpq, and unloading its libraries under
// them aborts the process (krb5's thread-local keys).
[[noreturn]] void Exit(int code) {
  std::fflush(nullptr);
  std::_Exit(code);
}

int Fail(const std::string& reason) {
  std::fprintf(stderr, "pgwarden: %s\n", reason.c_str());
  return kUsageError;
}

// The built-in collectors the flags enable, then the custom queries.
std::vector<std::unique_ptr<Collector>> AllCollectors(const Config& config) {
  auto collectors =
      CreateCollectors(config.collectors, config.collector_options);
  for (const auto& q : config.custom_queries) {
    collectors.push_back(
        NewCustomCollector(q, config.collector_options.legacy_names,
                           config.collector_options.custom_query_series_limit));
  }
  return collectors;
}

// A target at `dsn` (with session settings) with the collectors and
// options the flags describe, connected through libpq. `own` marks the
// process' /metrics target, whose answers carry the process' families.
std::unique_ptr<Target> NewTarget(const Config& config, const Dsn& dsn,
                                  bool own) {
  TargetOptions options = config.target;
  options.process_metrics = own;
  options.remember_every_result = own;
  options.databases.open = [dsn](const std::string& dbname) {
    Dsn other = dsn;
    if (!dbname.empty()) other.Set("dbname", dbname);
    return NewPostgresDatabase(other);
  };
  // The sampler's session is told apart in pg_stat_activity by its
  // application_name: "<the scrape's>_sampler".
  options.sampler.open = [dsn] {
    Dsn sampler = dsn;
    sampler.Set("application_name", dsn.Get("application_name") + "_sampler");
    return NewPostgresDatabase(sampler);
  };
  return std::make_unique<Target>(dsn.Redacted(), NewPostgresDatabase(dsn),
                                  AllCollectors(config), std::move(options));
}

int PrintQueries(const Config& config) {
  auto database = NewPostgresDatabase(config.dsn);
  ServerInfo server;
  try {
    server = database->Open(Clock::now() + std::chrono::seconds(30));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pgwarden: %s\n", e.what());
    return 1;
  }
  for (const auto& c : AllCollectors(config)) {
    const std::string sql = c->Query(server);
    std::cout << "-- " << c->Name() << "\n"
              << (sql.empty() ? "-- (nothing to ask)" : sql)
              << (sql.empty() ? "\n" : ";\n");
  }
  // Last, so that what comes before is exactly one scrape's statements.
  if (config.target.sampler.interval > Clock::duration::zero()) {
    std::cout
        << "-- activity sampler, every "
        << std::chrono::duration<double>(config.target.sampler.interval).count()
        << " s on its own connection\n"
        << ActivitySampleQuery(server) << ";\n";
  }
  return 0;
}

// pgwarden's own application_names: the scrape's, the sampler's and the
// remediation's sessions, which remediation never signals.
std::set<std::string> OwnApplications(const Config& config) {
  const std::string app = config.dsn.Get("application_name");
  std::set<std::string> own = {app, app + "_sampler", app + "_remediation",
                               config.remediation_dsn.Get("application_name")};
  own.erase("");  // not every session without a name is pgwarden's
  return own;
}

// --remediation.check: what each rule matches now, acting on nothing.
int CheckRemediation(const Config& config) {
  const RemediationPolicy& policy = *config.remediation;
  std::cout << "remediation policy " << FLAGS_remediation_config << ": mode "
            << (policy.enforce ? "enforce" : "dry_run") << ", "
            << policy.rules.size() << " rule(s), at most "
            << policy.max_actions_per_minute << " action(s) a minute\n";
  auto database = NewPostgresDatabase(config.remediation_dsn);
  std::vector<RemediationCandidate> candidates;
  QueryResult role;
  try {
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    const ServerInfo server = database->Open(deadline);
    QueryResult result;
    database->Run(
        {Statement{RemediationQuery(server, policy)},
         Statement{"SELECT current_user AS usename, "
                   "pg_catalog.pg_has_role(current_user, 'pg_signal_backend', "
                   "'MEMBER') AS can_signal"}},
        deadline, [&](size_t i, QueryResult r) {
          (i == 0 ? result : role) = std::move(r);
        });
    if (!result.ok) throw std::runtime_error(result.error);
    candidates = MatchRemediationRules(
        policy, ParseRemediationSessions(result.rows), OwnApplications(config));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pgwarden: remediation connection: %s\n", e.what());
    return 1;
  }
  if (role.ok && !role.rows.empty()) {
    const RowView row(role.rows, 0);
    std::cout << "connected as " << row.Text("usename") << ": "
              << (row.NumberOr("can_signal", 0) != 0
                      ? "may signal sessions (pg_signal_backend)"
                      : "NOT a member of pg_signal_backend: actions will fail")
              << "\n";
  }
  for (const RemediationRule& rule : policy.rules) {
    std::cout << "rule " << rule.name << " (line " << rule.line
              << "): " << ActionName(rule.action) << ", grace "
              << rule.grace_seconds << " s\n";
    int matched = 0;
    for (const RemediationCandidate& c : candidates) {
      if (c.rule != &rule) continue;
      ++matched;
      const RemediationSession& s = c.session;
      std::cout << "  pid " << s.pid << " usename=" << s.usename
                << " application_name=\"" << s.application_name
                << "\" datname=" << s.datname << " state=\"" << s.state
                << "\" blocks " << c.blocked_sessions << " (longest wait "
                << c.longest_wait_seconds << " s): "
                << (c.protection.empty() ? "would act"
                                         : "protected, " + c.protection)
                << "\n";
    }
    if (matched == 0) std::cout << "  no session matches now\n";
  }
  return 0;
}

// SIGHUP: --remediation.config again (its dsn_file too); a broken file
// keeps the policy in force.
void ReloadRemediation(Config& config, Remediator& remediator) {
  Config next = config;
  try {
    LoadRemediation(next);
    remediator.Replace(*next.remediation, [dsn = next.remediation_dsn] {
      return NewPostgresDatabase(dsn);
    });
  } catch (const std::exception& e) {
    Log(LogLevel::kError,
        std::string(e.what()) + " (on SIGHUP: the policy in force stays)");
    return;
  }
  for (const std::string& w : next.remediation->warnings) {
    Log(LogLevel::kWarn, "--remediation.config: " + w);
  }
  config.remediation = std::move(next.remediation);
  config.remediation_dsn = std::move(next.remediation_dsn);
}

}  // namespace

int Run(int argc, char** argv) {
  // glibc gives each thread that allocates its own arena (up to 8 per core),
  // which would make a small exporter's resident memory grow with every
  // HTTP and collection thread. Two arenas are plenty here.
  mallopt(M_ARENA_MAX, 2);
  const Args args = ParseArgs(argc, argv);
  if (args.action == Args::Action::kHelp) {
    std::cout << HelpText();
    return 0;
  }
  if (args.action == Args::Action::kVersion) {
    std::cout << "pgwarden " PGWARDEN_VERSION " (revision " PGWARDEN_REVISION
                 ")\n";
    return 0;
  }
  if (!args.error.empty()) return Fail(args.error);
  if (!SetLogLevel(FLAGS_log_level)) {
    return Fail("invalid --log_level \"" + FLAGS_log_level + "\"");
  }
  if (!SetLogFormat(FLAGS_log_format)) {
    return Fail("invalid --log_format \"" + FLAGS_log_format +
                "\" (logfmt or json)");
  }
  Config config;
  try {
    config = LoadConfig();
  } catch (const std::exception& e) {
    return Fail(e.what());
  }
  if (FLAGS_print_queries) return PrintQueries(config);
  if (config.remediation) {
    for (const std::string& w : config.remediation->warnings) {
      Log(LogLevel::kWarn, "--remediation.config: " + w);
    }
    if (FLAGS_remediation_check) return CheckRemediation(config);
  }

  // Signals are taken by sigwait below; block them before any thread starts
  // so that every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A client that goes away mid-response must not kill the process.
  std::signal(SIGPIPE, SIG_IGN);

  // Before the target and the server start: a bad file exits 2.
  std::unique_ptr<WebAccess> access;
  try {
    access = std::make_unique<WebAccess>(config.web_config_file);
  } catch (const std::exception& e) {
    return Fail(std::string("--web.config.file: ") + e.what());
  }
  std::unique_ptr<ProbeConfigFile> probe_config;
  try {
    probe_config = std::make_unique<ProbeConfigFile>(FLAGS_config_file);
  } catch (const std::exception& e) {
    return Fail(std::string("--config.file: ") + e.what());
  }

  // The port is bound before anything connects to the database: a port in
  // use exits 2 with its one line, having opened no session. Until the
  // target and the remediator exist (microseconds later), a request that
  // needs them waits for them.
  struct Running {
    Target* target = nullptr;          // null without one (/probe only)
    Remediator* remediator = nullptr;  // null without --remediation.config
  };
  std::promise<Running> started;
  const std::shared_future<Running> running = started.get_future().share();
  // Each caller waits on its own copy, as shared_future asks of threads.
  auto wait_running = [running] { return std::shared_future(running).get(); };

  Prober prober(config.probe, probe_config.get(), [&config](const Dsn& dsn) {
    return NewTarget(config, WithSessionSettings(dsn, config.session), false);
  });
  HttpHandlers handlers;
  if (config.has_target) {
    handlers.scrape = [wait_running](Clock::time_point deadline) {
      return wait_running().target->Scrape(deadline);
    };
    handlers.status = [wait_running] {
      return wait_running().target->Status();
    };
  }
  handlers.probe = [&prober](const std::string& t, const std::string& module,
                             Clock::time_point deadline) {
    return prober.Probe(t, module, deadline);
  };
  handlers.probe_targets = [&prober] { return prober.Targets(Clock::now()); };
  handlers.extra_metrics = [&probe_config, &prober, wait_running,
                            own = !config.has_target] {
    Families out = probe_config->Metrics();
    for (auto& f : prober.Metrics()) out.push_back(std::move(f));
    if (Remediator* remediator = wait_running().remediator) {
      for (auto& f : remediator->Collect()) out.push_back(std::move(f));
    }
    // Without a target of its own, /metrics still describes the process.
    if (own) {
      for (auto& f : ProcessFamilies()) out.push_back(std::move(f));
    }
    return out;
  };
  std::unique_ptr<HttpServer> server;
  try {
    server = std::make_unique<HttpServer>(config.http, handlers, access.get());
  } catch (const std::exception& e) {
    return Fail(e.what());
  }

  std::unique_ptr<Remediator> remediator;
  if (config.remediation) {
    RemediatorOptions options;
    options.interval = config.target.sampler.interval;
    options.own_applications = OwnApplications(config);
    options.open = [dsn = config.remediation_dsn] {
      return NewPostgresDatabase(dsn);
    };
    try {
      remediator =
          std::make_unique<Remediator>(*config.remediation, std::move(options));
    } catch (const std::exception& e) {
      // Requests may be waiting for the remediator: nothing is unwound.
      Exit(Fail(std::string("--remediation.config: ") + e.what()));
    }
  }
  std::unique_ptr<Target> target;
  if (config.has_target) target = NewTarget(config, config.dsn, true);
  started.set_value({target.get(), remediator.get()});

  std::string collectors;
  for (const auto& c : AllCollectors(config)) {
    collectors += (collectors.empty() ? "" : ",") + std::string(c->Name());
  }
  std::string ports;
  for (int p : server->Ports()) {
    ports += (ports.empty() ? "" : ",") + std::to_string(p);
  }
  Log(LogLevel::kInfo,
      std::string("pgwarden " PGWARDEN_VERSION " listening "
                  "on port ") +
          ports + (access->tls() ? " (TLS)" : "") + " path " +
          config.http.telemetry_path + "; target " +
          (target ? config.dsn.Redacted() : std::string("none (/probe only)")) +
          "; collectors " + collectors);

  // SIGHUP re-reads --config.file and --remediation.config (a broken file
  // keeps the last good one);
  // every second, probe targets idle past --probe.idle_timeout are closed;
  // every 10 s, the heap's free pages go back to the system, so a peak
  // (many concurrent scrapes of a large exposition) does not stay resident.
  int sig = 0;
  const timespec second{1, 0};
  for (unsigned tick = 1;; ++tick) {
    sig = sigtimedwait(&signals, nullptr, &second);
    if (sig == SIGHUP) {
      probe_config->Reload();
      if (remediator) ReloadRemediation(config, *remediator);
    } else if (sig < 0) {
      prober.CloseIdle(Clock::now());
      if (tick % 10 == 0) malloc_trim(0);
    } else {
      break;
    }
  }
  Log(LogLevel::kInfo,
      std::string("received ") + strsignal(sig) + ", shutting down");
  server.reset();
  return 0;
}

int main(int argc, char** argv) { Exit(Run(argc, argv)); }

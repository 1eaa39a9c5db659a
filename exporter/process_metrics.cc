#include "exporter/process_metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace pgwarden {
namespace {

double BootTimeSeconds() {
  std::ifstream stat("/proc/stat");
  std::string key;
  double value;
  while (stat >> key) {
    if (key == "btime" && stat >> value) return value;
    stat.ignore(1 << 16, '\n');
  }
  return 0;
}

double OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return -1;
  double n = 0;
  while (const dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;  // the directory handle itself
}

double MaxFds() {
  std::ifstream limits("/proc/self/limits");
  std::string line;
  while (std::getline(limits, line)) {
    if (line.rfind("Max open files", 0) == 0) {
      std::istringstream fields(line.substr(14));
      double soft;
      if (fields >> soft) return soft;
    }
  }
  return -1;
}

}  // namespace

void AppendProcessMetrics(Families& out) {
  using prometheus::MetricType;
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)),
                   std::istreambuf_iterator<char>());
  // Fields after the parenthesised command name, which may contain spaces.
  const size_t close = stat.rfind(')');
  if (close != std::string::npos) {
    std::istringstream fields(stat.substr(close + 2));
    std::string f[50];
    int n = 0;
    while (n < 50 && fields >> f[n]) ++n;
    // f[0] is field 3 (state); utime=14, stime=15, starttime=22, vsize=23,
    // rss=24 in proc(5) numbering.
    if (n > 22) {
      const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
      const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
      const double cpu = (std::stod(f[11]) + std::stod(f[12])) / ticks;
      FamilyBuilder("process_cpu_seconds_total",
                    "Total user and system CPU time spent in seconds.",
                    MetricType::Counter)
          .Add(cpu)
          .MoveTo(out);
      FamilyBuilder("process_resident_memory_bytes",
                    "Resident memory size in bytes.", MetricType::Gauge)
          .Add(std::stod(f[21]) * page)
          .MoveTo(out);
      FamilyBuilder("process_virtual_memory_bytes",
                    "Virtual memory size in bytes.", MetricType::Gauge)
          .Add(std::stod(f[20]))
          .MoveTo(out);
      // Constant for the life of the process: read /proc/stat once.
      static const double start_time =
          BootTimeSeconds() + std::stod(f[19]) / ticks;
      FamilyBuilder("process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.",
                    MetricType::Gauge)
          .Add(start_time)
          .MoveTo(out);
    }
  }
  const double open = OpenFds();
  if (open >= 0) {
    FamilyBuilder("process_open_fds", "Number of open file descriptors.",
                  MetricType::Gauge)
        .Add(open)
        .MoveTo(out);
  }
  const double max = MaxFds();
  if (max >= 0) {
    FamilyBuilder("process_max_fds", "Maximum number of open file descriptors.",
                  MetricType::Gauge)
        .Add(max)
        .MoveTo(out);
  }
}

}  // namespace pgwarden

#pragma once
// Per-phase peak memory of this process: Linux keeps one high-water mark (VmHWM) per process,
// which can be reset by writing "5" to /proc/self/clear_refs, so several configurations can be
// measured in one run.
#include <string>

namespace packinfer::report {

// Returns freed heap to the kernel, then resets VmHWM to the current RSS. On failure returns false
// and sets *why (e.g. kernel without support, read-only /proc).
bool reset_peak_rss(std::string* why);

// Current resident set size (VmRSS) in MiB.
double current_rss_mib();

// Resident set size (VmRSS) of another process in MiB; 0 once it is gone.
double rss_mib_of(int pid);

// Peak resident set size of this process (VmHWM) in MiB, since start or the last reset.
double peak_rss_mib();

}  // namespace packinfer::report

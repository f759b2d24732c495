#pragma once
// Resuming a `packinfer batch` job: the existing output file says which requests are done.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace packinfer::batch_jobs {

struct ResumeState {
  // custom_id -> number of output lines carrying it (a custom_id given twice in the input has two
  // lines: the result and the "duplicate custom_id" error).
  std::map<std::string, int64_t> answered;
  int64_t lines = 0;          // valid result lines kept
  int64_t invalid_lines = 0;  // complete lines that are not results (kept, ignored)
  size_t keep_bytes = 0;      // bytes of the file to keep: a partial last line is cut off
  bool add_newline = false;   // the last line is valid but lacks its '\n'
};

// Pure: what to keep of an output file's content.
ResumeState scan_results(std::string_view content);

// Reads `path` if it exists and cuts a partial last line (a job killed mid-write). Returns an
// empty state for a missing file. Throws packinfer::Error if the file exists but cannot be read
// or repaired.
ResumeState prepare_output(const std::string& path);

}  // namespace packinfer::batch_jobs

#include "batch_jobs/batch_job.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

#include "batch_jobs/batch_progress.h"
#include "batch_jobs/batch_requests.h"
#include "batch_jobs/batch_results.h"
#include "batch_jobs/batch_resume.h"
#include "packinfer/error.h"
#include "openai/request_prompt.h"
#include "util/text_file.h"

namespace packinfer::batch_jobs {
namespace {

void print_warnings(FieldWarnings& warnings) {
  for (const std::string& w : warnings.take()) std::fprintf(stderr, "warning: %s\n", w.c_str());
}

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

// The input's content, once input and output are known not to clash.
std::string read_input(const BatchJobOptions& o) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(o.input, ec)) throw Error("input '" + o.input + "' is a directory");
  if (fs::equivalent(o.input, o.output, ec)) {
    throw Error("input and output are the same file ('" + o.output + "')");
  }
  return read_text_file(o.input);
}

}  // namespace

// Members are initialised in declaration order: input checked and read, then the output
// repaired for resuming, then opened for appending.
BatchJob::BatchJob(const BatchJobOptions& o)
    : started_(std::chrono::steady_clock::now()),
      options_(o),
      input_(read_input(o)),
      resume_(prepare_output(o.output)),
      writer_(o.output) {
  if (resume_.lines > 0) {
    std::fprintf(stderr, "batch: resuming: %lld results already in '%s'\n",
                 static_cast<long long>(resume_.lines), o.output.c_str());
  }
  if (resume_.invalid_lines > 0) {
    std::fprintf(stderr, "warning: %lld lines of '%s' are not results; they are kept and ignored\n",
                 static_cast<long long>(resume_.invalid_lines), o.output.c_str());
  }
}

int BatchJob::run(EngineOptions eo) {
  const BatchJobOptions& o = options_;
  // A larger per-forward budget than -b also needs the engine's scratch sized for it.
  if (o.batch.max_batch_tokens > eo.max_batch_tokens)
    eo.max_batch_tokens = o.batch.max_batch_tokens;
  Engine engine(eo);
  const ModelInfo& info = engine.model_info();
  const std::vector<std::string> names = accepted_model_names(info.path, info.name);
  const ResultContext ctx{names.empty() ? info.name : names.front(),
                          static_cast<int64_t>(std::time(nullptr))};

  JobSummary summary;
  auto reject = [&](const BatchRequest& r, const RequestError& e) {
    writer_.write(error_line(r, e));
    summary.failed++;
  };

  FieldWarnings warnings;
  std::map<std::string, int64_t> occurrences;  // custom_id -> times seen so far in the input
  std::vector<BatchRequest> runnable;
  std::vector<GenerationRequest> requests;
  int64_t line_no = 0;
  for (size_t pos = 0; pos < input_.size();) {
    size_t nl = input_.find('\n', pos);
    if (nl == std::string::npos) nl = input_.size();
    std::string_view line(input_.data() + pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (is_blank(line)) continue;  // not a request (e.g. a trailing empty line)

    BatchRequest r = parse_request_line(line, line_no, names, warnings);
    print_warnings(warnings);
    // The k-th occurrence of a custom_id is done if the output holds at least k lines for it.
    const int64_t k = ++occurrences[r.custom_id];
    auto done = resume_.answered.find(r.custom_id);
    if (done != resume_.answered.end() && k <= done->second) {
      summary.skipped++;
      continue;
    }
    if (r.error) {
      reject(r, *r.error);
      continue;
    }
    if (k > 1) {
      reject(r, {"duplicate custom_id '" + r.custom_id + "' (used by an earlier line)",
                 "duplicate_custom_id", "custom_id"});
      continue;
    }
    GenerationRequest g;
    if (auto e = api::prepare_prompt(engine, r, api::MaxTokensPolicy::Clamp, g.prompt_ids)) {
      reject(r, *e);
      continue;
    }
    g.sampling = r.sampling;
    runnable.push_back(std::move(r));
    requests.push_back(std::move(g));
  }

  BatchStats stats;
  if (!requests.empty()) {
    ProgressReporter progress(stderr, ::isatty(STDERR_FILENO) == 1);
    BatchProgress last;
    last.total = static_cast<int64_t>(requests.size());
    engine.generate_batch(
        requests, o.batch, &stats,
        [&](size_t i, const BatchItemResult& item) {
          if (!item.error.empty()) {
            reject(runnable[i], {item.error, "generation_failed", ""});
            return;
          }
          writer_.write(success_line(runnable[i], item.result, ctx));
          summary.ok++;
          summary.prompt_tokens += static_cast<int64_t>(item.result.prompt_ids.size());
          summary.generated_tokens += static_cast<int64_t>(item.result.output_ids.size());
        },
        [&](const BatchProgress& p) {
          last = p;
          progress.update(p);
        });
    last.done = last.total;  // generate_batch returned: everything finished
    last.elapsed_seconds =
        stats.makespan_seconds > 0 ? stats.makespan_seconds : last.elapsed_seconds;
    progress.finish(last);
  }
  summary.elapsed_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  std::fputs(format_summary(summary, stats).c_str(), stderr);
  return 0;
}

}  // namespace packinfer::batch_jobs

#include "sched/step_log.h"

#include <cerrno>
#include <cstring>

#include "packinfer/error.h"

namespace packinfer {

namespace {

double ms(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

StepLog::StepLog(const std::string& path) : file_(std::fopen(path.c_str(), "a")) {
  if (file_ == nullptr) {
    throw InvalidArgument("cannot open the step log '" + path + "': " + std::strerror(errno));
  }
  std::fputs(
      "# step\tdecode_rows\tprompt_tokens\tprompt_sequences\tlast_chunk_pos0\tschedule_ms\t"
      "forward_ms\tupdate_ms\n",
      file_);
  std::fflush(file_);
}

StepLog::~StepLog() { std::fclose(file_); }

void StepLog::write(const StepPlan& plan, std::chrono::steady_clock::time_point t0,
                    std::chrono::steady_clock::time_point t1,
                    std::chrono::steady_clock::time_point t2,
                    std::chrono::steady_clock::time_point t3) {
  int64_t decodes = 0, prompt_tokens = 0, prompt_sequences = 0, last_pos0 = -1;
  for (const PlannedSequence& s : plan.sequences) {
    if (s.decode) {
      ++decodes;
    } else {
      prompt_tokens += s.n_real();
      ++prompt_sequences;
      last_pos0 = s.pos0;
    }
  }
  std::fprintf(file_, "%lld\t%lld\t%lld\t%lld\t%lld\t%.3f\t%.3f\t%.3f\n",
               static_cast<long long>(++steps_), static_cast<long long>(decodes),
               static_cast<long long>(prompt_tokens), static_cast<long long>(prompt_sequences),
               static_cast<long long>(last_pos0), ms(t0, t1), ms(t1, t2), ms(t2, t3));
  std::fflush(file_);
}

}  // namespace packinfer

#include "loadgen/serve_metrics.h"

#include <algorithm>

namespace packinfer::loadgen {
namespace {

std::vector<double> in_ms(std::vector<double> v) {
  for (double& x : v) x *= 1e3;
  return v;
}

}  // namespace

RequestTiming timing_of(const StreamResult& r) {
  RequestTiming t;
  t.ok = r.ok;
  t.token_times = r.token_times;
  t.e2e_s = r.e2e_s;
  t.output_tokens =
      r.completion_tokens >= 0 ? r.completion_tokens : static_cast<int64_t>(r.token_times.size());
  return t;
}

RunMetrics compute_metrics(const std::vector<PlannedRequest>& plan, const LoadResult& load,
                           const Slo& slo) {
  RunMetrics m;
  m.slo = slo;
  m.duration_s = load.wall_s;
  m.requests = static_cast<int64_t>(load.requests.size());
  std::vector<RequestTiming> ok;
  std::vector<double> ttft, tpot, itl, e2e, stream_itl;
  for (size_t i = 0; i < load.requests.size(); ++i) {
    const StreamResult& r = load.requests[i].result;
    const PlannedRequest& p = plan[i];
    if (!r.ok) {
      ++m.failed;
      if (m.first_error.empty()) m.first_error = r.error;
      continue;
    }
    ++m.completed;
    RequestTiming t = timing_of(r);
    m.prompt_tokens += std::max<int64_t>(r.prompt_tokens, 0);
    m.output_tokens += t.output_tokens;
    m.cached_tokens += std::max<int64_t>(r.cached_tokens, 0);
    if (!t.token_times.empty()) {
      ttft.push_back(ttft_s(t));
      m.ttft_over_time.emplace_back(load.requests[i].sent_at_s, ttft_s(t) * 1e3);
      if (t.output_tokens > 1) tpot.push_back(tpot_s(t));
    }
    std::vector<double> gaps = inter_token_gaps(t);
    itl.insert(itl.end(), gaps.begin(), gaps.end());
    e2e.push_back(t.e2e_s);
    if (p.group == "streams") {
      m.has_stall_figures = true;
      stream_itl.insert(stream_itl.end(), gaps.begin(), gaps.end());
    }
    if (p.group == "long" && !t.token_times.empty()) m.long_prompt_ttft_ms = ttft_s(t) * 1e3;
    ok.push_back(std::move(t));
  }
  m.ttft_ms = summarize(in_ms(ttft));
  m.tpot_ms = summarize(in_ms(tpot));
  m.itl_ms = summarize(in_ms(itl));
  m.e2e_ms = summarize(in_ms(e2e));
  m.stream_itl_ms = summarize(in_ms(stream_itl));
  m.max_stall_ms = m.stream_itl_ms.max;
  m.good_requests = count_meeting_slo(ok, slo);
  if (m.duration_s > 0) {
    m.request_throughput = static_cast<double>(m.completed) / m.duration_s;
    m.output_tokens_per_s = static_cast<double>(m.output_tokens) / m.duration_s;
    m.prompt_tokens_per_s = static_cast<double>(m.prompt_tokens) / m.duration_s;
    m.goodput = static_cast<double>(m.good_requests) / m.duration_s;
  }
  return m;
}

}  // namespace packinfer::loadgen

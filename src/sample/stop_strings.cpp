// StopStringMatcher: cuts streamed text at the earliest occurrence of any stop string without
// ever sending a client part of a stop string.
#include <algorithm>
#include <string>

#include "sample/sampler.h"

namespace packinfer {

StopStringMatcher::StopStringMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  // An empty stop string would match everywhere and stop before the first byte.
  std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
}

namespace {

// Earliest position where a complete stop string starts in text, or npos.
size_t earliest_match(std::string_view text, const std::vector<std::string>& stops) {
  size_t best = std::string_view::npos;
  for (const std::string& s : stops) best = std::min(best, text.find(s));
  return best;
}

// Earliest position q < limit such that text[q..] is a proper prefix of some stop string, i.e.
// a match that more text could still complete. Returns limit if there is none.
size_t earliest_partial(std::string_view text, const std::vector<std::string>& stops,
                        size_t limit) {
  size_t max_len = 0;
  for (const std::string& s : stops) max_len = std::max(max_len, s.size());
  // A partial match is shorter than its stop string, so only the last max_len - 1 bytes matter.
  const size_t first = text.size() >= max_len ? text.size() - max_len + 1 : 0;
  for (size_t q = first; q < std::min(limit, text.size()); ++q) {
    const std::string_view tail = text.substr(q);
    for (const std::string& s : stops)
      if (tail.size() < s.size() && std::string_view(s).starts_with(tail)) return q;
  }
  return limit;
}

}  // namespace

StopStringMatcher::Result StopStringMatcher::push(std::string_view text) {
  Result r;
  if (stopped_) {
    r.stopped = true;
    return r;
  }
  held_.append(text);
  const size_t match = earliest_match(held_, stops_);
  const size_t limit = std::min(match, held_.size());
  const size_t partial = earliest_partial(held_, stops_, limit);
  if (partial < limit || match == std::string::npos) {
    // Either nothing matched, or an earlier-starting stop string may still complete and would
    // win over the one already found: emit only what precedes every candidate.
    r.emit = held_.substr(0, partial);
    held_.erase(0, partial);
    return r;
  }
  r.emit = held_.substr(0, match);
  held_.clear();
  stopped_ = r.stopped = true;
  return r;
}

std::string StopStringMatcher::flush() {
  if (stopped_) return {};
  // No more text will come, so pending partial matches are dead; a held complete match still
  // ends the output.
  const size_t match = earliest_match(held_, stops_);
  std::string out = match == std::string::npos ? std::move(held_) : held_.substr(0, match);
  if (match != std::string::npos) stopped_ = true;
  held_.clear();
  return out;
}

}  // namespace packinfer

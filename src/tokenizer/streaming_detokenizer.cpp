#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace packinfer {

std::string StreamingDetokenizer::push(int32_t id) {
  pending_ += tok_.token_to_piece(id, render_special_);
  // Hold back only a character that is still incomplete; bytes that can never become valid are
  // replaced now so that what is emitted is always valid UTF-8.
  const size_t n = utf8::complete_prefix_length(pending_);
  std::string out = utf8::sanitize(std::string_view(pending_).substr(0, n));
  pending_.erase(0, n);
  return out;
}

std::string StreamingDetokenizer::flush() {
  std::string out = utf8::sanitize(pending_);
  pending_.clear();
  return out;
}

}  // namespace packinfer

#pragma once
// Floating-point operations of a forward pass, for reporting achieved GFLOP/s and for the
// compute lower bound of a batch job's makespan.
#include "batch/token_batch.h"
#include "model/model_config.h"

namespace packinfer {

// Multiply-adds x2 of the layer matrices for one token.
double layer_flops_per_token(const ModelConfig& c);
// Causal attention of n new tokens after `cached` positions (QK and PV, every head and layer).
double attention_flops(const ModelConfig& c, double cached, double n);
// LM head for one token.
double lm_head_flops(const ModelConfig& c);
// Everything a forward of this batch computes.
double forward_flops(const ModelConfig& c, const TokenBatch& batch);

}  // namespace packinfer

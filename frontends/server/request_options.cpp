#include "frontends/server/request_options.h"

#include "frontends/server/api_error.h"
#include "frontends/server/generation_job.h"

namespace kt::server {

namespace {

constexpr size_t kMostStops = 16;

void common_sampling(const json& o, engine::SamplerParams& sp) {
  if (auto v = get_number(o, "temperature", 0, 100)) sp.temperature = float(*v);
  if (auto v = get_number(o, "top_p", 0, 1)) sp.top_p = float(*v);
  if (auto v = get_int(o, "top_k", 0, 1 << 30)) sp.top_k = int(*v);
  if (auto v = get_number(o, "min_p", 0, 1)) sp.min_p = float(*v);
  if (auto v = get_number(o, "presence_penalty", -2, 2)) sp.presence_penalty = float(*v);
  if (auto v = get_number(o, "frequency_penalty", -2, 2)) sp.frequency_penalty = float(*v);
  if (auto v = get_number(o, "repeat_penalty", 0, 10)) sp.repeat_penalty = float(*v);
  if (auto v = get_int(o, "repeat_last_n", -1, 1 << 30)) sp.penalty_last_n = int(*v);
  sp.seed = random_seed();
  if (auto v = get_int(o, "seed", INT64_MIN, INT64_MAX)) sp.seed = uint64_t(*v);
}

}  // namespace

void openai_sampling(const json& body, engine::GenerateRequest& req) {
  common_sampling(body, req.sampler);
  req.stop = get_string_list(body, "stop", kMostStops);
  if (auto v = get_bool(body, "ignore_eos")) req.ignore_eos = *v;
  if (auto bias = body.find("logit_bias"); bias != body.end() && !bias->is_null()) {
    if (!bias->is_object()) throw bad_request("'logit_bias' must be an object", "logit_bias");
    if (!bias->empty())
      throw ApiError(400, "invalid_request_error", "'logit_bias' is not supported yet",
                     "logit_bias");
  }
}

int64_t ollama_sampling(const json& options, engine::GenerateRequest& req) {
  common_sampling(options, req.sampler);
  req.stop = get_string_list(options, "stop", kMostStops);
  return get_int(options, "num_predict", -2, INT64_MAX).value_or(-1);
}

}  // namespace kt::server

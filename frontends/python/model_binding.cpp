// ktransformers._kt.Model: a loaded model with its CPU thread pool and one Generator, so that
// successive calls reuse the KV cache of the prefix they share (a chat's earlier turns).
// Generation and logits run with the GIL released; between tokens and prefill chunks the GIL
// is taken back to check for Ctrl-C and to hand text to the Python callback.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "backends/cpu/thread_pool.h"
#include "engine/generator.h"
#include "engine/model.h"
#include "engine/session.h"
#include "frontends/cli/gpu_count.h"
#include "frontends/cli/progress.h"
#include "frontends/python/bindings.h"
#include "tensor/error.h"

namespace kt::python {
namespace {

// With the GIL released: takes it back and checks for a pending signal; on one, stores the
// Python exception (KeyboardInterrupt) in *err to be raised once the engine call has unwound.
bool interrupted(std::exception_ptr* err) {
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() == 0) return false;
  *err = std::make_exception_ptr(py::error_already_set());
  return true;
}

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

class ModelHandle {
 public:
  // Loads as `kt chat` does: weights is a GGUF file, split or folder, or a Hugging Face folder;
  // tokenizer_dir (KTransformers' model_path beside a gguf_path) replaces the tokenizer.
  ModelHandle(const std::string& weights, const std::string& tokenizer_dir,
              const std::string& rule_path, int threads, int64_t n_ctx, int64_t chunk_size)
      : n_ctx_(n_ctx), chunk_size_(chunk_size) {
    if (weights.empty())
      throw Error(
          "give a model: gguf_path (a GGUF file or folder) or model_path (a Hugging Face "
          "folder)");
    if (n_ctx < 2) throw Error("context must be at least 2 tokens, got " + std::to_string(n_ctx));
    if (chunk_size < 1)
      throw Error("chunk_size must be positive, got " + std::to_string(chunk_size));
    engine::LoadOptions lo;
    lo.tokenizer_dir = tokenizer_dir;
    lo.rule_path = rule_path;
    lo.gpu_count = cli::cuda_gpu_count();
    model_ = engine::Model::load(weights, lo);
    cli::show_upload_progress(model_);
    pool_ = std::make_unique<cpu::ThreadPool>(threads > 0 ? threads : cpu::default_cpu_threads());
  }

  // One request through the Generator (stop strings, EOS, limits; engine/generator.h).
  // on_text(str) gets each piece of final text; returning False stops the generation.
  py::dict generate(const std::vector<int32_t>& prompt, int64_t max_new_tokens,
                    const engine::SamplerParams& sampler, const std::vector<std::string>& stop,
                    bool ignore_eos, const py::object& on_text) {
    engine::GenerateRequest req;
    req.prompt = prompt;
    req.sampler = sampler;
    req.max_tokens = max_new_tokens;
    req.stop = stop;
    req.ignore_eos = ignore_eos;

    std::exception_ptr err;  // a Python exception raised while the engine ran
    auto on_chunk = [&](const engine::GenerateChunk& chunk) {
      py::gil_scoped_acquire gil;
      try {
        check_signals();
        if (!on_text.is_none() && !chunk.text.empty()) {
          py::object r = on_text(utf8_str(chunk.text));
          if (r.ptr() == Py_False) return false;
        }
        return true;
      } catch (...) {
        err = std::current_exception();
        return false;
      }
    };

    engine::GenerateResult res;
    int64_t cached = -1;
    double head_seconds = 0;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mu_);
      engine::Generator& gen = generator();
      try {
        if (prefill_head(gen, req.prompt, &cached, &head_seconds, &err)) {
          res = gen.run(req, on_chunk);
          // The cache holds at least the prompt and every generated token but the last.
          known_ = req.prompt;
          if (!res.output_ids.empty())
            known_.insert(known_.end(), res.output_ids.begin(), res.output_ids.end() - 1);
        }
      } catch (...) {
        known_.clear();  // what the cache holds is unknown now; assume nothing
        throw;
      }
    }
    if (err) std::rethrow_exception(err);

    py::dict d;
    d["text"] = utf8_str(res.text);
    d["token_ids"] = res.output_ids;
    d["finish_reason"] = res.finish_reason;
    d["stop_word"] = res.stop_word;
    d["prompt_tokens"] = res.prompt_tokens;
    d["cached_tokens"] = cached >= 0 ? cached : res.cached_tokens;
    d["completion_tokens"] = res.completion_tokens;
    d["prefill_seconds"] = res.prefill_seconds + head_seconds;
    d["decode_seconds"] = res.decode_seconds;
    return d;
  }

  // The logits after every token of ids, evaluated on a fresh session: (len(ids), n_vocab).
  py::array_t<float> logits(const std::vector<int32_t>& ids) {
    if (ids.empty()) throw Error("logits: give at least one token id");
    const int64_t n = int64_t(ids.size()), vocab = n_vocab();
    py::array_t<float> out({n, vocab});
    float* dst = out.mutable_data();
    std::exception_ptr err;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mu_);
      engine::Session session(*model_.arch, *pool_, n);
      for (int64_t start = 0; start < n; start += chunk_size_) {
        if (start > 0 && interrupted(&err)) break;
        const int64_t len = std::min(chunk_size_, n - start);
        const std::vector<float> rows = session.eval_all(
            std::span<const int32_t>(ids.data() + start, size_t(len)), chunk_size_);
        if (int64_t(rows.size()) != len * vocab)
          throw Error("logits: the model returned " + std::to_string(rows.size()) + " values for " +
                      std::to_string(len) + " tokens of " + std::to_string(vocab) + " logits");
        std::memcpy(dst + start * vocab, rows.data(), rows.size() * sizeof(float));
      }
    }
    if (err) std::rethrow_exception(err);
    return out;
  }

  const engine::Model& model() const { return model_; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t chunk_size() const { return chunk_size_; }
  int threads() const { return pool_->size(); }
  int64_t n_vocab() const { return model_.arch->hparams().n_vocab; }

 private:
  engine::Generator& generator() {  // made on first use: its KV cache takes n_ctx positions
    if (!gen_) gen_ = std::make_unique<engine::Generator>(model_, *pool_, n_ctx_, chunk_size_);
    return *gen_;
  }

  // Evaluates all but the last chunk of a long prompt one chunk per Generator run (max_tokens
  // 0, each run reusing what the previous cached), so that Ctrl-C is noticed between chunks
  // and not only after the whole prefill. Chunks the cache already holds are skipped. Returns
  // false when interrupted (*err set).
  bool prefill_head(engine::Generator& gen, const std::vector<int32_t>& prompt, int64_t* cached,
                    double* seconds, std::exception_ptr* err) {
    if (int64_t(prompt.size()) >= n_ctx_) return true;  // the main run reports it
    const size_t chunk = size_t(chunk_size_);
    const size_t shared = common_prefix(known_, prompt);
    for (size_t end = (shared / chunk + 1) * chunk; end < prompt.size(); end += chunk) {
      if (interrupted(err)) return false;
      engine::GenerateRequest head;
      head.prompt.assign(prompt.begin(), prompt.begin() + int64_t(end));
      head.max_tokens = 0;
      const engine::GenerateResult r =
          gen.run(head, [](const engine::GenerateChunk&) { return true; });
      if (*cached < 0) *cached = r.cached_tokens;
      *seconds += r.prefill_seconds;
      known_ = std::move(head.prompt);
    }
    return !interrupted(err);
  }

  engine::Model model_;
  std::unique_ptr<cpu::ThreadPool> pool_;
  std::unique_ptr<engine::Generator> gen_;
  int64_t n_ctx_, chunk_size_;
  std::vector<int32_t> known_;  // a prefix of what the generator's KV cache surely holds
  std::mutex mu_;               // one computation at a time (the Generator is single-sequence)
};

}  // namespace

void bind_model(py::module_& m) {
  using M = ModelHandle;
  py::class_<M>(m, "Model", "A loaded model (see ktransformers.Model)")
      .def(py::init<const std::string&, const std::string&, const std::string&, int, int64_t,
                    int64_t>(),
           py::arg("weights"), py::arg("tokenizer_dir") = "", py::arg("rule_path") = "",
           py::arg("threads") = 0, py::arg("n_ctx") = 4096, py::arg("chunk_size") = 512,
           py::call_guard<py::gil_scoped_release>())
      .def(
          "generate",
          [](M& self, const std::vector<int32_t>& prompt, int64_t max_new_tokens, float temperature,
             int top_k, float top_p, float min_p, float repeat_penalty, float frequency_penalty,
             float presence_penalty, int penalty_last_n, uint64_t seed,
             const std::vector<std::string>& stop, bool ignore_eos, const py::object& on_text) {
            engine::SamplerParams sp;
            sp.temperature = temperature;
            sp.top_k = top_k;
            sp.top_p = top_p;
            sp.min_p = min_p;
            sp.repeat_penalty = repeat_penalty;
            sp.frequency_penalty = frequency_penalty;
            sp.presence_penalty = presence_penalty;
            sp.penalty_last_n = penalty_last_n;
            sp.seed = seed;
            return self.generate(prompt, max_new_tokens, sp, stop, ignore_eos, on_text);
          },
          py::arg("prompt"), py::arg("max_new_tokens") = -1, py::arg("temperature") = 0.8f,
          py::arg("top_k") = 40, py::arg("top_p") = 0.95f, py::arg("min_p") = 0.05f,
          py::arg("repeat_penalty") = 1.0f, py::arg("frequency_penalty") = 0.0f,
          py::arg("presence_penalty") = 0.0f, py::arg("penalty_last_n") = 64,
          py::arg("seed") = 0xC0FFEE, py::arg("stop") = std::vector<std::string>{},
          py::arg("ignore_eos") = false, py::arg("on_text") = py::none())
      .def("logits", &M::logits, py::arg("ids"))
      .def_property_readonly("tokenizer",
                             [](const M& self) -> py::object {
                               const engine::Model& md = self.model();
                               if (!md.tokenizer) return py::none();
                               return wrap_tokenizer(
                                   *md.tokenizer, md.chat_template ? &*md.chat_template : nullptr);
                             })
      .def_property_readonly("n_ctx", &M::n_ctx)
      .def_property_readonly("chunk_size", &M::chunk_size)
      .def_property_readonly("threads", &M::threads)
      .def_property_readonly("n_vocab", &M::n_vocab)
      .def_property_readonly("arch", [](const M& s) { return s.model().arch->hparams().arch; })
      .def_property_readonly("name", [](const M& s) { return s.model().arch->hparams().name; })
      .def_property_readonly("n_layer",
                             [](const M& s) { return s.model().arch->hparams().n_layer; })
      .def_property_readonly("n_ctx_train",
                             [](const M& s) { return s.model().arch->hparams().n_ctx_train; })
      .def_property_readonly("weight_bytes", [](const M& s) { return s.model().weight_bytes(); })
      .def_property_readonly("rules", [](const M& s) { return s.model().plan().source(); })
      .def_property_readonly("warnings", [](const M& s) { return s.model().plan().warnings(); });
}

}  // namespace kt::python

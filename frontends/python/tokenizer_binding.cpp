// ktransformers._kt.Tokenizer: a model's tokenizer and chat template. Both are immutable and
// share their state, so the Python object holds copies and outlives the model it came from.
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "frontends/python/bindings.h"
#include "frontends/server/api_error.h"
#include "frontends/server/chat_prompt.h"
#include "models/chat_template.h"
#include "models/tokenizer.h"
#include "tensor/error.h"

namespace kt::python {
namespace {

using json = nlohmann::ordered_json;

// Parses a JSON argument the Python side serialized (json.dumps); "" stands for null.
json parse_arg(const std::string& text, const char* what) {
  if (text.empty()) return nullptr;
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw Error(std::string(what) + " is not valid JSON: " + e.what());
  }
}

struct TokenizerHandle {
  models::Tokenizer tok;
  std::optional<models::ChatTemplate> tmpl;

  const models::ChatTemplate& chat_template() const {
    if (!tmpl) throw Error("the model has no chat template");
    return *tmpl;
  }

  // OpenAI-style messages checked and flattened as the server does (text parts joined,
  // "developer" as "system"), then rendered. A malformed message or a template's refusal is a
  // kt::Error naming the message or template line.
  std::string render(const std::string& messages, const std::string& tools,
                     bool add_generation_prompt, const std::string& extra) const {
    json msgs;
    try {
      msgs = server::normalize_messages(parse_arg(messages, "messages"));
    } catch (const server::ApiError& e) {
      throw Error(e.what());
    }
    json ex = parse_arg(extra, "template variables");
    if (ex.is_null()) ex = json::object();
    return chat_template().render(msgs, parse_arg(tools, "tools"), add_generation_prompt, ex);
  }

  // The rendered conversation as token ids, as the server's chat endpoints make them: special
  // tokens parsed in the text, BOS added only when the model wants one and the template did not
  // write it.
  std::vector<int32_t> chat_ids(const std::string& messages, const std::string& tools,
                                bool add_generation_prompt, const std::string& extra) const {
    return tok.encode_chat_prompt(render(messages, tools, add_generation_prompt, extra));
  }
};

std::optional<int32_t> id_or_none(int32_t id) {
  return id >= 0 ? std::optional<int32_t>(id) : std::nullopt;
}

}  // namespace

py::object wrap_tokenizer(const models::Tokenizer& tok, const models::ChatTemplate* tmpl) {
  TokenizerHandle h{tok, std::nullopt};
  if (tmpl) h.tmpl = *tmpl;
  return py::cast(std::move(h));
}

void bind_tokenizer(py::module_& m) {
  using H = TokenizerHandle;
  py::class_<H>(m, "Tokenizer",
                "A model's tokenizer and chat template (see ktransformers.Tokenizer)")
      .def(
          "encode",
          [](const H& h, const std::string& text, bool add_special, bool parse_special) {
            py::gil_scoped_release release;  // long texts take a while
            return h.tok.encode(text, add_special, parse_special);
          },
          py::arg("text"), py::arg("add_special") = true, py::arg("parse_special") = true)
      .def(
          "decode",
          [](const H& h, const std::vector<int32_t>& ids, bool render_special) {
            std::string s;
            {
              py::gil_scoped_release release;
              s = h.tok.decode(ids, render_special);
            }
            return utf8_str(s);
          },
          py::arg("ids"), py::arg("render_special") = true)
      .def(
          "token_text", [](const H& h, int32_t id) { return utf8_str(h.tok.token_text(id)); },
          py::arg("id"))
      .def(
          "token_bytes",
          [](const H& h, int32_t id) { return py::bytes(h.tok.token_to_piece(id, true)); },
          py::arg("id"))
      .def(
          "find_token", [](const H& h, const std::string& text) { return h.tok.find_token(text); },
          py::arg("text"))
      .def("is_special", [](const H& h, int32_t id) { return h.tok.is_special(id); })
      .def("is_eog", [](const H& h, int32_t id) { return h.tok.is_eog(id); })
      .def("render_chat", &H::render, py::arg("messages_json"), py::arg("tools_json") = "",
           py::arg("add_generation_prompt") = true, py::arg("extra_json") = "")
      .def("chat_ids", &H::chat_ids, py::arg("messages_json"), py::arg("tools_json") = "",
           py::arg("add_generation_prompt") = true, py::arg("extra_json") = "")
      .def_property_readonly("vocab_size", [](const H& h) { return h.tok.vocab_size(); })
      .def_property_readonly("bos_id", [](const H& h) { return id_or_none(h.tok.bos_id()); })
      .def_property_readonly("eos_id", [](const H& h) { return id_or_none(h.tok.eos_id()); })
      .def_property_readonly("eot_id", [](const H& h) { return id_or_none(h.tok.eot_id()); })
      .def_property_readonly("pad_id", [](const H& h) { return id_or_none(h.tok.pad_id()); })
      .def_property_readonly("add_bos", [](const H& h) { return h.tok.add_bos(); })
      .def_property_readonly("source", [](const H& h) { return h.tok.source(); })
      .def_property_readonly("has_chat_template", [](const H& h) { return h.tmpl.has_value(); })
      .def_property_readonly("chat_template",
                             [](const H& h) -> std::optional<std::string> {
                               if (!h.tmpl) return std::nullopt;
                               return h.tmpl->source();
                             })
      .def_property_readonly("chat_template_name", [](const H& h) -> std::optional<std::string> {
        if (!h.tmpl) return std::nullopt;
        return h.tmpl->name();
      });
}

}  // namespace kt::python

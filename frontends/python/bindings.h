#pragma once
// The Python extension module ktransformers._kt: the engine's Model, Generator, Session and
// Tokenizer behind a small pybind11 surface, and the `kt` command line as a function. The
// pure-Python package (frontends/python/ktransformers) builds the user-facing API on it.
//
// GIL rules: every call that computes (loading, prefill, decode, logits, the CLI) runs with
// the GIL released; it is taken back between tokens and chunks only to check for Ctrl-C
// (PyErr_CheckSignals) and to hand text to a Python callback.
#include <pybind11/pybind11.h>

#include <string>
#include <string_view>

namespace kt::models {
class Tokenizer;
class ChatTemplate;
}  // namespace kt::models

namespace kt::python {

namespace py = pybind11;

// UTF-8 bytes as a Python str; invalid bytes (a decode cut inside a character) become U+FFFD
// rather than an exception, as Python's errors="replace".
inline py::str utf8_str(std::string_view s) {
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), Py_ssize_t(s.size()), "replace");
  if (!o) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(o);
}

// Raises the pending Python exception (KeyboardInterrupt after Ctrl-C) if a signal handler set
// one. Needs the GIL.
inline void check_signals() {
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

void bind_tokenizer(py::module_& m);  // tokenizer_binding.cpp: class Tokenizer
// A _kt.Tokenizer holding copies of tok and *tmpl (null: the model has no chat template).
py::object wrap_tokenizer(const models::Tokenizer& tok, const models::ChatTemplate* tmpl);
void bind_model(py::module_& m);  // model_binding.cpp: class Model

}  // namespace kt::python

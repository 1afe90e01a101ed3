// The extension module ktransformers._kt: KtError, the Model and Tokenizer classes, and the
// `kt` command line (run_cli) that the package's `ktransformers` and `local_chat` commands run.
#include <pybind11/stl.h>
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "backends/cpu/thread_pool.h"
#include "frontends/cli/commands.h"
#include "frontends/cli/gpu_count.h"
#include "frontends/python/bindings.h"
#include "tensor/error.h"

namespace kt::python {
namespace {

// Runs `kt ARGS...` in this process (argv[0] is the program name) and returns its exit status.
// `kt serve` blocks SIGINT/SIGTERM in the calling thread to wait for them itself; the mask is
// restored afterwards so that Ctrl-C reaches Python again.
int run_cli(std::vector<std::string> argv) {
  if (argv.empty()) throw Error("run_cli: argv must start with the program name");
  std::vector<char*> ptrs;
  for (std::string& a : argv) ptrs.push_back(a.data());
  ptrs.push_back(nullptr);
  py::gil_scoped_release release;
  sigset_t old;
  pthread_sigmask(SIG_SETMASK, nullptr, &old);
  const int rc = cli::run(int(argv.size()), ptrs.data());
  std::cout.flush();
  std::fflush(stdout);
  std::fflush(stderr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return rc;
}

}  // namespace
}  // namespace kt::python

PYBIND11_MODULE(_kt, m) {
  namespace py = pybind11;
  using namespace kt::python;
  m.doc() = "kt's C++ engine (use the ktransformers package, not this module directly)";
  // Errors a user can cause (bad path, bad rule file, bad request) carry the engine's message.
  py::register_exception<kt::Error>(m, "KtError", PyExc_RuntimeError);
  bind_tokenizer(m);
  bind_model(m);
  m.def("run_cli", &run_cli, py::arg("argv"),
        "Runs a kt subcommand in this process, e.g. run_cli(['kt', 'serve', ...]); returns its "
        "exit status");
  m.def("cuda_device_count", &kt::cli::cuda_gpu_count, "CUDA devices visible (0 in CPU builds)");
  m.def("default_cpu_threads", &kt::cpu::default_cpu_threads,
        "The default cpu_infer: physical cores minus 2, at least 1");
#ifdef KT_HAVE_CUDA
  m.attr("cuda_built") = true;
#else
  m.attr("cuda_built") = false;
#endif
  m.attr("__version__") = KT_VERSION;
}

// The C++ face of runtime/kiln_bundle.h: a `.kiln` bundle opened, described and run.
//
//   KILN_RT_ASSIGN_OR_RETURN(std::unique_ptr<kiln::rt::Bundle> bundle,
//                            kiln::rt::Bundle::Open("model.kiln", kiln_dnnl_symbols));
//   const int sig = bundle->Find("serving_default");
//   kiln::rt::Context context(kiln_dnnl_context_create(1));  // one per thread
//   bundle->Prepare(sig, context);
//   KILN_RT_RETURN_IF_ERROR(bundle->Run(sig, {pixels}, {probabilities}, context));
#ifndef KILN_RUNTIME_BUNDLE_H_
#define KILN_RUNTIME_BUNDLE_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "runtime/kiln_bundle.h"
#include "runtime/runtime.h"
#include "runtime/status.h"

namespace kiln {
namespace rt {

class Bundle {
 public:
  // A kernel library's table of hooks, as kiln_dnnl_symbols.
  using SymbolTable = const kiln_symbol* (*)(size_t* count);

  // Opens and checks `path` (errors as kiln_bundle_open's, the message naming the file), taking
  // the code's external functions from `symbols` first when given.
  static StatusOr<std::unique_ptr<Bundle>> Open(const std::string& path,
                                                SymbolTable symbols = nullptr) {
    kiln_bundle_options options = kiln_bundle_default_options();
    if (symbols != nullptr) options.symbols = symbols(&options.num_symbols);
    kiln_bundle* bundle = nullptr;
    char message[1024] = "";
    kiln_status_code code =
        kiln_bundle_open(path.c_str(), &options, &bundle, message, sizeof message);
    if (code != KILN_OK) return Status(code, message);
    return std::unique_ptr<Bundle>(new Bundle(bundle));
  }
  ~Bundle() { kiln_bundle_close(bundle_); }
  Bundle(const Bundle&) = delete;
  Bundle& operator=(const Bundle&) = delete;

  int num_signatures() const { return kiln_bundle_num_signatures(bundle_); }
  std::string name(int signature) const { return kiln_bundle_signature_name(bundle_, signature); }
  // The signature's description: its arguments (inputs, variables, outputs), arena, target.
  const kiln_model_info& signature(int signature) const {
    return *kiln_bundle_signature(bundle_, signature);
  }
  // -1 for an unknown name.
  int Find(const std::string& name) const { return kiln_bundle_find(bundle_, name.c_str()); }
  // The signature's batch size (its first input's leading dimension), and the signature named
  // `name` with the smallest batch size of at least `batch` (-1 if none).
  int64_t batch_size(int signature) const { return kiln_bundle_batch_size(bundle_, signature); }
  int FindBatch(const std::string& name, int64_t batch) const {
    return kiln_bundle_find_batch(bundle_, name.c_str(), batch);
  }

  // Once per context, before its first run of `signature` there.
  void Prepare(int signature, Context& context) const {
    kiln_bundle_prepare(bundle_, signature, context.get());
  }
  // One run with one buffer per input and per output, in the description's order.
  // INVALID_ARGUMENT for another number of buffers; else the run's status.
  Status Run(int signature, const std::vector<const void*>& inputs,
             const std::vector<void*>& outputs, Context& context) const {
    int num_inputs = 0, num_outputs = 0;
    const kiln_model_info& info = this->signature(signature);
    for (int i = 0; i < info.num_args; ++i) {
      num_inputs += info.args[i].role == KILN_ROLE_INPUT;
      num_outputs += info.args[i].role == KILN_ROLE_OUTPUT;
    }
    if (static_cast<int>(inputs.size()) != num_inputs ||
        static_cast<int>(outputs.size()) != num_outputs) {
      return InvalidArgumentError(
          "signature '" + name(signature) + "' takes " + std::to_string(num_inputs) +
          " inputs and " + std::to_string(num_outputs) + " outputs, not " +
          std::to_string(inputs.size()) + " and " + std::to_string(outputs.size()));
    }
    kiln_bundle_run(bundle_, signature, inputs.data(), outputs.data(), context.get());
    return context.TakeStatus();
  }

  // Writes the bundle with its weights as they are now (after training steps run on it) to
  // `path`, atomically.
  Status Save(const std::string& path) const {
    char message[1024] = "";
    kiln_status_code code =
        kiln_bundle_write_weights(bundle_, nullptr, 0, path.c_str(), message, sizeof message);
    return code == KILN_OK ? Status() : Status(code, message);
  }

 private:
  explicit Bundle(kiln_bundle* bundle) : bundle_(bundle) {}
  kiln_bundle* bundle_;
};

}  // namespace rt
}  // namespace kiln

#endif  // KILN_RUNTIME_BUNDLE_H_

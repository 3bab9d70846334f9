// Command-line flags for the Fashion-MNIST example binaries: --name=value or --name value, and
// boolean --name. Unknown flags and bad values are errors (the binaries exit with status 2).
#ifndef KILN_EXAMPLES_FASHION_MNIST_FLAGS_H_
#define KILN_EXAMPLES_FASHION_MNIST_FLAGS_H_

#include <cerrno>
#include <cstdlib>
#include <map>
#include <string>

#include "runtime/status.h"

namespace kiln {
namespace fashion {

class Flags {
 public:
  // `spec` maps each flag name to true when it takes a value, false for a boolean flag.
  static rt::StatusOr<Flags> Parse(int argc, char** argv, const std::map<std::string, bool>& spec) {
    Flags flags;
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg.rfind("--", 0) != 0)
        return rt::InvalidArgumentError("unexpected argument '" + arg + "'");
      std::string name = arg.substr(2), value;
      const size_t eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      auto it = spec.find(name);
      if (it == spec.end()) return rt::InvalidArgumentError("unknown flag --" + name);
      if (it->second && eq == std::string::npos) {
        if (i + 1 >= argc) return rt::InvalidArgumentError("--" + name + " needs a value");
        value = argv[++i];
      } else if (!it->second && eq != std::string::npos) {
        return rt::InvalidArgumentError("--" + name + " takes no value");
      }
      flags.values_[name] = value;
    }
    return flags;
  }

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::string String(const std::string& name, const std::string& fallback) const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
  }
  rt::StatusOr<int64_t> Int(const std::string& name, int64_t fallback, int64_t min) const {
    auto it = values_.find(name);
    if (it == values_.end()) return fallback;
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(it->second.c_str(), &end, 10);
    if (it->second.empty() || *end != '\0' || errno != 0 || v < min) {
      return rt::InvalidArgumentError("--" + name + " must be an integer >= " +
                                      std::to_string(min) + ", got '" + it->second + "'");
    }
    return static_cast<int64_t>(v);
  }
  rt::StatusOr<double> Double(const std::string& name, double fallback) const {
    auto it = values_.find(name);
    if (it == values_.end()) return fallback;
    char* end = nullptr;
    const double v = std::strtod(it->second.c_str(), &end);
    if (it->second.empty() || *end != '\0' || !(v > 0)) {
      return rt::InvalidArgumentError("--" + name + " must be a positive number, got '" +
                                      it->second + "'");
    }
    return v;
  }

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace fashion
}  // namespace kiln

#endif  // KILN_EXAMPLES_FASHION_MNIST_FLAGS_H_

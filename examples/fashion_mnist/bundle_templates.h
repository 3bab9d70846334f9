// The untrained inference graphs' bundles, built into the CPU trainer (BUILD: bundle_templates).
#ifndef KILN_EXAMPLES_FASHION_MNIST_BUNDLE_TEMPLATES_H_
#define KILN_EXAMPLES_FASHION_MNIST_BUNDLE_TEMPLATES_H_

extern "C" {
extern const unsigned char kiln_fashion_mlp_bundle[], kiln_fashion_mlp_bundle_end[];
extern const unsigned char kiln_fashion_cnn_bundle[], kiln_fashion_cnn_bundle_end[];
}

#endif  // KILN_EXAMPLES_FASHION_MNIST_BUNDLE_TEMPLATES_H_

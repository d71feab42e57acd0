// The blocked convolution kernels, instantiated once for mcsc's tests and examples (the target
// mcsc_conv_kernels in the top-level CMakeLists.txt).
#include <mcsc/ops/conv2d_instantiate.hpp>

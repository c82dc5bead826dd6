// The one translation unit of the module's fatbin (gsat2r/gpu/kernels.fatbin): nvcc -fatbin
// compiles a single source, and one module means one cuModuleLoadData at start. Each op family
// lives in its own file, forward and backward side by side; train.cu holds the backward passes whose
// weight gradients are reduced without atomics (embedding, RMSNorm, output gate) and the step's
// remaining pieces.
#include "embedding.cu"
#include "rmsnorm.cu"
#include "rope.cu"
#include "swiglu.cu"
#include "losses.cu"
#include "optim.cu"
#include "convert.cu"
#include "attention.cu"
#include "gsa.cu"
#include "gsa_gates.cu"
#include "short_conv.cu"
#include "train.cu"
#include "decode_linear.cu"
#include "gsa_decode.cu"
#include "attention_decode.cu"
#include "scoring.cu"

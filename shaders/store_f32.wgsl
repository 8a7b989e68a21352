// Element type of a kernel's storage buffers (store_t): f32. Prepended first to kernels that come
// in f32 and f16 storage (Hadamard, dense matmul); their arithmetic is always f32.
alias store_t = f32;

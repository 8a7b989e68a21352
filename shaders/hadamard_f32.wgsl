// Element type of the Hadamard kernels' storage buffers: f32. (The arithmetic is always f32.)
alias store_t = f32;

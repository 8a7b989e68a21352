// Element type of the Hadamard kernels' storage buffers: f16 (needs the shader-f16 feature).
// Included first: `enable` must precede every declaration. The arithmetic stays f32.
enable f16;
alias store_t = f16;

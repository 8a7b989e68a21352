// Element type of a kernel's storage buffers (store_t): f16 (needs the shader-f16 feature).
// Prepended first: `enable` must precede every declaration. The arithmetic stays f32.
enable f16;
alias store_t = f16;

// Counter-based PRNG, bit-identical to src/core/prng.ts (lowbias32 hash, applied twice with the
// seed's key folded in). Included by kernels that need random signs or noise.

fn prng_hash32(x_in: u32) -> u32 {
  var x = x_in;
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

fn prng_key(seed: u32) -> u32 {
  return prng_hash32(seed ^ 0x9e3779b9u);
}

fn rand_u32(seed: u32, i: u32) -> u32 {
  let k = prng_key(seed);
  return prng_hash32(prng_hash32(i ^ k) + k);
}

fn rand_uniform(seed: u32, i: u32) -> f32 {
  // 24 random bits, centred: never 0 or 1. Exact in f32.
  return (f32(rand_u32(seed, i) >> 8u) + 0.5) * 5.9604644775390625e-8;
}

fn rand_sign(seed: u32, i: u32) -> f32 {
  return select(1.0, -1.0, (rand_u32(seed, i) >> 31u) == 1u);
}

fn rand_normal(seed: u32, i: u32) -> f32 {
  let pair = i - (i & 1u);
  let u1 = rand_uniform(seed, pair);
  let u2 = rand_uniform(seed, pair + 1u);
  let r = sqrt(-2.0 * log(u1));
  let a = 6.283185307179586 * u2;
  return select(r * cos(a), r * sin(a), (i & 1u) == 1u);
}

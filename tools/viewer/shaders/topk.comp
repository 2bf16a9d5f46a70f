#version 450
// topk.comp - softmax over the network output (one sample) and its k largest entries,
// ties to the lower index (as tu_topk). One workgroup; works for any class count and any
// subgroup size (shared-memory reductions only).
layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 5) readonly buffer NetOut { float net_out[]; };
layout(std430, set = 0, binding = 6) writeonly buffer TopK {
    uint idx[4];
    float prob[4];
    uint count;
} res;

layout(push_constant) uniform PC {
    uint n, k;
} pc;

const uint NONE = 0xFFFFFFFFu;
shared float s_v[256];
shared uint s_i[256];
shared uint s_taken[4];

// (va, ia) ranks before (vb, ib)
bool better(float va, uint ia, float vb, uint ib)
{
    if (ia == NONE) return false;
    if (ib == NONE) return true;
    return va > vb || (va == vb && ia < ib);
}

void main()
{
    uint t = gl_LocalInvocationID.x;
    // max
    float m = -3.402823e38;
    for (uint i = t; i < pc.n; i += 256u) m = max(m, net_out[i]);
    s_v[t] = m;
    barrier();
    for (uint s = 128u; s > 0u; s >>= 1) {
        if (t < s) s_v[t] = max(s_v[t], s_v[t + s]);
        barrier();
    }
    float mx = s_v[0];
    barrier();
    // sum of exp
    float sum = 0.0;
    for (uint i = t; i < pc.n; i += 256u) sum += exp(net_out[i] - mx);
    s_v[t] = sum;
    barrier();
    for (uint s = 128u; s > 0u; s >>= 1) {
        if (t < s) s_v[t] += s_v[t + s];
        barrier();
    }
    float total = s_v[0];
    barrier();
    uint k = min(min(pc.k, 4u), pc.n);
    for (uint j = 0u; j < k; j++) {
        float bv = 0.0;
        uint bi = NONE;
        for (uint i = t; i < pc.n; i += 256u) {
            bool taken = false;
            for (uint q = 0u; q < j; q++) taken = taken || s_taken[q] == i;
            float v = net_out[i];
            if (!taken && better(v, i, bv, bi)) {
                bv = v;
                bi = i;
            }
        }
        s_v[t] = bv;
        s_i[t] = bi;
        barrier();
        for (uint s = 128u; s > 0u; s >>= 1) {
            if (t < s && better(s_v[t + s], s_i[t + s], s_v[t], s_i[t])) {
                s_v[t] = s_v[t + s];
                s_i[t] = s_i[t + s];
            }
            barrier();
        }
        if (t == 0u) {
            s_taken[j] = s_i[0];
            res.idx[j] = s_i[0];
            res.prob[j] = exp(s_v[0] - mx) / total;
        }
        barrier();
    }
    if (t == 0u) {
        for (uint j = k; j < 4u; j++) {
            res.idx[j] = NONE;
            res.prob[j] = 0.0;
        }
        res.count = k;
    }
}

// conv_wino_gemm.glsl - the 16 batched GEMMs of Winograd F(2x2,3x3):
//     M[xi][o][t] = sum_c U[xi][c][o] * V[xi][c][t]      (xi = 0..15)
// U: [16][C][Op] (transformed weights, Op = O rounded up to TO, zero rows beyond O),
// V: [16][C][Tp] (conv_wino_in.comp), M: [16][Op][Tp]; all read and written as vec4s.
//
// Each invocation keeps a register tile of TO output channels x TT tiles (TO * TT / 4 vec4
// accumulators) and per input channel loads TO / 4 + TT / 4 vec4s for TO * TT multiply-adds:
// on lavapipe loads (per-lane loops) rather than arithmetic decide the speed. Invocations
// enumerate (channel block, tile block) pairs, tile blocks fastest; gl_WorkGroupID.z is xi.
//
// The including .comp declares bindings 0 (U), 1 (V) and 2 (M) and defines LOAD_U(i) and
// LOAD_V(i) (vec4 index i): storage buffers, or uniform texel buffers (one vector gather on
// lavapipe instead of a per-lane loop).

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TO = 8;  // output channels per invocation (multiple of 4)
layout(constant_id = 2) const uint TT = 16; // tiles per invocation (multiple of 4)

const uint TO4 = TO / 4u, TT4 = TT / 4u;

layout(push_constant) uniform Push {
    uint C;        // input channels (GEMM depth)
    uint Op4, Tp4; // padded output channels / 4, padded tiles / 4
    uint ntb;      // tile blocks (Tp / TT)
    uint n_inv;    // (channel block, tile block) pairs per xi
    uint groups_x; // workgroups along x
} pc;

void main()
{
    const uint q = (gl_WorkGroupID.y * pc.groups_x + gl_WorkGroupID.x) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (q >= pc.n_inv) return;
    const uint xi = gl_WorkGroupID.z;
    const uint ob = q / pc.ntb;
    const uint tb = q - ob * pc.ntb;

    vec4 acc[TO * TT4];
    [[unroll]] for (uint i = 0; i < TO * TT4; i++) acc[i] = vec4(0.0);

    uint ui = xi * pc.C * pc.Op4 + ob * TO4;
    uint vi = xi * pc.C * pc.Tp4 + tb * TT4;
    for (uint c = 0; c < pc.C; c++) {
        vec4 u[TO4], b[TT4];
        [[unroll]] for (uint i = 0; i < TO4; i++) u[i] = LOAD_U(ui + i);
        [[unroll]] for (uint j = 0; j < TT4; j++) b[j] = LOAD_V(vi + j);
        [[unroll]] for (uint i = 0; i < TO; i++)
            [[unroll]] for (uint j = 0; j < TT4; j++) acc[i * TT4 + j] += u[i / 4u][i % 4u] * b[j];
        ui += pc.Op4;
        vi += pc.Tp4;
    }

    const uint mi = (xi * pc.Op4 * 4u + ob * TO) * pc.Tp4 + tb * TT4;
    [[unroll]] for (uint i = 0; i < TO; i++)
        [[unroll]] for (uint j = 0; j < TT4; j++) m[mi + i * pc.Tp4 + j] = acc[i * TT4 + j];
}
